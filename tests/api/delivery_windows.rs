//! ListDeliveries filtered beyond what an index serves (by event type, by
//! status SUCCEEDED, or by a webhook with another filter) reads a bounded
//! window of the newest deliveries per page, 20 per row the page may hold:
//! a rare match in a long history costs a few short pages, each bounded,
//! instead of one page that reads the whole history. A filter an index
//! serves (none, the webhook alone, a status other than SUCCEEDED alone)
//! still fills its pages.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, authorized, deliver_to, spawn_app_with};
use webhook_service::grpc::proto::{Delivery, DeliveryStatus, ListDeliveriesRequest};

on_every_backend!(
    a_page_filtered_beyond_the_indexes_reads_a_bounded_window_and_may_come_back_short,
);

const WAIT: Duration = Duration::from_secs(10);

/// Every page of `request`, first to last, following the tokens.
async fn pages(app: &TestApp, request: ListDeliveriesRequest) -> Vec<Vec<Delivery>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let request = ListDeliveriesRequest {
            organization_id: app.organization.to_string(),
            page_token: token,
            ..request.clone()
        };
        let page = app
            .webhooks()
            .await
            .list_deliveries(authorized(request, &app.token("OWNER")))
            .await
            .unwrap()
            .into_inner();
        pages.push(page.deliveries);
        assert!(pages.len() <= 100, "no last page in sight");
        if page.next_page_token.is_empty() {
            return pages;
        }
        token = page.next_page_token;
    }
}

fn ids(pages: &[Vec<Delivery>]) -> Vec<String> {
    pages.iter().flatten().map(|d| d.id.clone()).collect()
}

async fn a_page_filtered_beyond_the_indexes_reads_a_bounded_window_and_may_come_back_short(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    receiver.always("/down", 500);
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let up = app
        .subscribe(&receiver.url("/up"), &["member.added", "invite.created"])
        .await
        .webhook
        .unwrap();
    app.subscribe(&receiver.url("/down"), &["invite.created"])
        .await;
    // The oldest: one invite to each webhook, then 25 newer member.added
    // deliveries to /up, more than a page of one reads (20).
    app.publish("invite.created", json!({}), "").await.unwrap();
    for _ in 0..25 {
        app.publish("member.added", json!({}), "").await.unwrap();
    }
    receiver.wait_for("/up", 26, WAIT).await;
    app.wait_until_settled(WAIT).await;
    let all = pages(&app, ListDeliveriesRequest::default()).await;
    assert_eq!(all.len(), 1, "unfiltered pages are full");
    let all: Vec<Delivery> = all.into_iter().flatten().collect();
    assert_eq!(all.len(), 27);
    let which = |keep: &dyn Fn(&Delivery) -> bool| -> Vec<String> {
        all.iter()
            .filter(|d| keep(d))
            .map(|d| d.id.clone())
            .collect()
    };
    let invited = |d: &Delivery| d.event_type == "invite.created";

    // By type, a page of one reads the 20 newest: no invite among them,
    // an empty page that says more follow; the next window holds both.
    let invites = pages(
        &app,
        ListDeliveriesRequest {
            event_type: "invite.created".into(),
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    let sizes: Vec<usize> = invites.iter().map(Vec::len).collect();
    assert_eq!(sizes, [0, 1, 1], "{invites:#?}");
    assert_eq!(
        ids(&invites),
        which(&invited),
        "the two invites, newest first"
    );

    // Walked to the end, every filter gives each of its deliveries once,
    // newest first, however its pages come out.
    let succeeded = DeliveryStatus::Succeeded as i32;
    for (request, expected) in [
        (
            ListDeliveriesRequest {
                status: succeeded,
                page_size: 2,
                ..Default::default()
            },
            which(&|d| d.webhook_id == up.id),
        ),
        (
            ListDeliveriesRequest {
                event_type: "member.added".into(),
                page_size: 1,
                ..Default::default()
            },
            which(&|d| !invited(d)),
        ),
        (
            ListDeliveriesRequest {
                webhook_id: up.id.clone(),
                event_type: "invite.created".into(),
                page_size: 1,
                ..Default::default()
            },
            which(&|d| invited(d) && d.webhook_id == up.id),
        ),
    ] {
        let walked = ids(&pages(&app, request.clone()).await);
        assert_eq!(walked, expected, "{request:?}");
        let distinct: HashSet<&String> = walked.iter().collect();
        assert_eq!(distinct.len(), walked.len(), "{request:?}");
    }

    // By a status an index serves, a page of one finds the oldest
    // delivery at once and says it is the last.
    let failed = pages(
        &app,
        ListDeliveriesRequest {
            status: DeliveryStatus::Failed as i32,
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(ids(&failed), which(&|d| d.webhook_id != up.id));
}
