//! CreateWebhook calls made at the same moment share one commit: each still
//! gets its own answer, counts against its organization's limit with the
//! others, and announces itself.

use std::collections::HashSet;
use std::time::Duration;

use tonic::{Code, Status};
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, authorized, deliver_to, spawn_app_with};
use webhook_service::grpc::proto::{CreateWebhookRequest, CreateWebhookResponse};

on_every_backend!(
    a_burst_of_creates_stops_exactly_at_each_organization_s_limit,
    a_taken_url_in_a_burst_fails_only_its_own_create,
    taken_urls_near_the_limit_leave_their_room_to_the_others,
    every_create_in_a_burst_announces_itself_once,
);

const WAIT: Duration = Duration::from_secs(10);

/// Makes every request at once, on one channel, as an OWNER of its
/// organization; the answers in the requests' order.
async fn create_together(
    app: &TestApp,
    requests: Vec<CreateWebhookRequest>,
) -> Vec<Result<CreateWebhookResponse, Status>> {
    let client = app.webhooks().await;
    let calls: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let organization = Uuid::parse_str(&request.organization_id).unwrap();
            let request = authorized(request, &app.token_for(organization, "OWNER"));
            let mut client = client.clone();
            tokio::spawn(
                async move { client.create_webhook(request).await.map(|r| r.into_inner()) },
            )
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers
}

/// How many answers succeeded, and the codes of the others.
fn tally<'a>(
    answers: impl IntoIterator<Item = &'a Result<CreateWebhookResponse, Status>>,
) -> (usize, Vec<Code>) {
    let mut created = 0;
    let mut refused = Vec::new();
    for answer in answers {
        match answer {
            Ok(_) => created += 1,
            Err(status) => refused.push(status.code()),
        }
    }
    (created, refused)
}

async fn a_burst_of_creates_stops_exactly_at_each_organization_s_limit(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_webhooks_per_organization = 5).await;
    let other = Uuid::new_v4();
    let requests = (0..24)
        .map(|i| {
            let mut request =
                app.create_request(&format!("https://hooks.example.com/{i}"), &["member.added"]);
            if i % 2 == 1 {
                request.organization_id = other.to_string();
            }
            request
        })
        .collect();
    let answers = create_together(&app, requests).await;

    for (organization, parity) in [(app.organization, 0), (other, 1)] {
        let own = answers.iter().skip(parity).step_by(2);
        let (created, refused) = tally(own);
        assert_eq!(created, 5, "{organization}: {answers:?}");
        assert!(
            refused.iter().all(|c| *c == Code::ResourceExhausted),
            "{refused:?}"
        );
        let stored = app
            .count_rows("webhooks", "organization_id", organization)
            .await;
        assert_eq!(stored, 5, "{organization}");
    }
}

async fn a_taken_url_in_a_burst_fails_only_its_own_create(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let taken = "https://hooks.example.com/taken";
    app.subscribe(taken, &["member.added"]).await;
    let mut requests: Vec<_> = (0..20)
        .map(|i| app.create_request(&format!("https://hooks.example.com/{i}"), &["member.added"]))
        .collect();
    let twice = "https://hooks.example.com/twice";
    requests[3] = app.create_request(taken, &["member.added"]);
    requests[7] = app.create_request(twice, &["member.added"]);
    requests[12] = app.create_request(twice, &["invite.created"]);
    let answers = create_together(&app, requests).await;

    let status = answers[3].as_ref().unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let (created, refused) = tally(&answers);
    assert_eq!(created, 18, "{answers:?}");
    assert_eq!(refused, [Code::AlreadyExists, Code::AlreadyExists]);
    assert!(answers[7].is_ok() != answers[12].is_ok(), "{answers:?}");
    let stored = app
        .count_rows("webhooks", "organization_id", app.organization)
        .await;
    assert_eq!(stored, 1 + 18);
}

async fn taken_urls_near_the_limit_leave_their_room_to_the_others(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_webhooks_per_organization = 5).await;
    let taken = "https://hooks.example.com/taken";
    app.subscribe(taken, &["member.added"]).await;
    // The taken URLs first: were they to hold places under the limit, the
    // new ones after them would be refused.
    let requests = (0..12)
        .map(|i| match i {
            0..4 => app.create_request(taken, &["member.added"]),
            _ => app.create_request(&format!("https://hooks.example.com/{i}"), &["member.added"]),
        })
        .collect();
    let answers = create_together(&app, requests).await;

    let (created, refused) = tally(&answers);
    assert_eq!(created, 4, "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|c| [Code::AlreadyExists, Code::ResourceExhausted].contains(c)),
        "{refused:?}"
    );
    let stored = app
        .count_rows("webhooks", "organization_id", app.organization)
        .await;
    assert_eq!(stored, 5);
}

async fn every_create_in_a_burst_announces_itself_once(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    // It hears of its own creation too.
    let subscriber = app
        .subscribe(&receiver.url("/announced"), &["webhook.created"])
        .await
        .webhook
        .unwrap()
        .id;
    let requests = (0..20)
        .map(|i| app.create_request(&format!("https://hooks.example.com/{i}"), &["member.added"]))
        .collect();
    let answers = create_together(&app, requests).await;

    let created: HashSet<String> = answers
        .iter()
        .map(|a| a.as_ref().unwrap().webhook.as_ref().unwrap().id.clone())
        .collect();
    let secrets: HashSet<&str> = answers
        .iter()
        .map(|a| a.as_ref().unwrap().secret.as_str())
        .collect();
    assert_eq!((created.len(), secrets.len()), (20, 20));
    receiver.wait_for("/announced", 1 + 20, WAIT).await;
    app.wait_until_settled(WAIT).await;
    let announced: Vec<String> = receiver
        .received("/announced")
        .iter()
        .map(|r| r.json()["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(announced.len(), 1 + 20, "each once: {announced:?}");
    let mut expected = created;
    expected.insert(subscriber);
    assert_eq!(announced.into_iter().collect::<HashSet<_>>(), expected);
}
