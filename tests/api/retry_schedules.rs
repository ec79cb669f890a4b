//! A webhook's own retry schedule: checked when written, read back, changed
//! and cleared by UpdateWebhook, and the one its failed deliveries wait by.

use std::time::Duration;

use serde_json::json;
use webhook_service::grpc::proto::{UpdateWebhookRequest, Webhook};

use crate::on_every_backend;
use crate::support::catalogue::violations;
use crate::support::receiver::Receiver;
use crate::support::{Backend, deliver_to, spawn_app, spawn_app_with};

on_every_backend!(
    a_webhook_with_its_own_schedule_is_retried_by_it_and_fails_after_its_last_step,
    a_schedule_too_long_with_a_zero_step_or_over_a_week_is_refused_on_its_field,
    get_webhook_shows_the_schedule_and_update_webhook_changes_and_clears_it,
    a_schedule_travels_over_rest_as_duration_strings,
    a_changed_schedule_holds_from_the_next_failure_of_a_pending_delivery,
);

const WAIT: Duration = Duration::from_secs(15);

/// A step in the wire's form.
fn step(millis: i64) -> pbjson_types::Duration {
    pbjson_types::Duration {
        seconds: millis / 1000,
        nanos: ((millis % 1000) * 1_000_000) as i32,
    }
}

fn millis(webhook: &Webhook) -> Vec<i64> {
    webhook
        .retry_schedule
        .iter()
        .map(|d| d.seconds * 1000 + i64::from(d.nanos) / 1_000_000)
        .collect()
}

async fn a_webhook_with_its_own_schedule_is_retried_by_it_and_fails_after_its_last_step(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    // The default is long, with more steps: a delivery waiting by it would
    // neither show these gaps nor end after three attempts.
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "3s,3s,3s".into();
    })
    .await;
    receiver.always("/down", 500);
    let mut request = app.create_request(&receiver.url("/down"), &["member.added"]);
    request.retry_schedule = vec![step(100), step(200)];
    app.create_webhook(request).await.unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();

    let got = receiver.wait_for("/down", 3, WAIT).await;
    let gaps = [got[1].at - got[0].at, got[2].at - got[1].at];
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(200), "{gaps:?}");
    assert!(
        gaps.iter().all(|g| *g < Duration::from_secs(3)),
        "waited by the default: {gaps:?}"
    );
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("failed".to_owned(), 3)]
    );
    assert_eq!(receiver.received("/down").len(), 3);
}

async fn a_schedule_too_long_with_a_zero_step_or_over_a_week_is_refused_on_its_field(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let day = 24 * 3600 * 1000;
    for (schedule, says) in [
        (vec![step(1000); 21], "21 steps"),
        (
            vec![step(1000), step(0)],
            "step 2: must be longer than zero",
        ),
        (vec![step(-1000)], "must be longer than zero"),
        (
            vec![pbjson_types::Duration {
                seconds: 1,
                nanos: 500,
            }],
            "whole number of milliseconds",
        ),
        (vec![step(4 * day), step(3 * day + 1)], "at most 7 days"),
    ] {
        let mut request = app.create_request("https://hooks.example.com/s", &["member.added"]);
        request.retry_schedule = schedule;
        let status = app.create_webhook(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let refused = violations(&status);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, "retry_schedule");
        assert!(refused[0].1.contains(says), "{refused:?}");
    }
    // Twenty steps of exactly seven days together are accepted.
    let mut request = app.create_request("https://hooks.example.com/s", &["member.added"]);
    request.retry_schedule = vec![step(7 * day / 20); 20];
    let created = app.create_webhook(request).await.unwrap();
    let webhook = created.webhook.unwrap();

    let refused = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: webhook.id.clone(),
            retry_schedule: vec![step(0)],
            update_mask: Some(mask("retry_schedule")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(violations(&refused)[0].0, "retry_schedule");
    let kept = app.get_webhook(&webhook.id).await.unwrap();
    assert_eq!(
        millis(&kept),
        vec![7 * day / 20; 20],
        "a refusal changes nothing"
    );
}

fn mask(path: &str) -> pbjson_types::FieldMask {
    pbjson_types::FieldMask {
        paths: vec![path.to_owned()],
    }
}

async fn get_webhook_shows_the_schedule_and_update_webhook_changes_and_clears_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = app.create_request("https://hooks.example.com/u", &["member.added"]);
    request.retry_schedule = vec![step(60_000), step(3_600_000)];
    let created = app.create_webhook(request).await.unwrap().webhook.unwrap();
    assert_eq!(millis(&created), [60_000, 3_600_000]);
    let id = created.id;
    assert_eq!(
        millis(&app.get_webhook(&id).await.unwrap()),
        [60_000, 3_600_000]
    );

    // Another field's update leaves it.
    let described = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: id.clone(),
            description: "kept".into(),
            update_mask: Some(mask("description")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(millis(&described), [60_000, 3_600_000]);

    let changed = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: id.clone(),
            retry_schedule: vec![step(1500), step(250), step(86_400_000)],
            update_mask: Some(mask("retry_schedule")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(millis(&changed), [1500, 250, 86_400_000]);
    assert_eq!(
        millis(&app.get_webhook(&id).await.unwrap()),
        [1500, 250, 86_400_000]
    );

    let cleared = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: id.clone(),
            update_mask: Some(mask("retry_schedule")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(cleared.retry_schedule.is_empty(), "{cleared:?}");
    assert!(
        app.get_webhook(&id)
            .await
            .unwrap()
            .retry_schedule
            .is_empty()
    );
}

async fn a_schedule_travels_over_rest_as_duration_strings(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let body = json!({
        "url": "https://hooks.example.com/rest-schedule",
        "events": ["member.added"],
        "retrySchedule": ["0.5s", "60s"],
    });
    let answer = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let id = answer.body["webhook"]["id"].as_str().unwrap();
    assert_eq!(millis(&app.get_webhook(id).await.unwrap()), [500, 60_000]);
    let shown: Vec<Duration> = answer.body["webhook"]["retrySchedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let text = s.as_str().unwrap().strip_suffix('s').unwrap();
            Duration::from_secs_f64(text.parse().unwrap())
        })
        .collect();
    assert_eq!(shown, [Duration::from_millis(500), Duration::from_secs(60)]);

    let refused = app
        .create_over_rest(
            Some(&token),
            &json!({
                "url": "https://hooks.example.com/rest-zero",
                "events": ["member.added"],
                "retrySchedule": ["0s"],
            }),
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let fields: Vec<String> = refused.violations().into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["retrySchedule"]);
}

async fn a_changed_schedule_holds_from_the_next_failure_of_a_pending_delivery(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.always("/down", 500);
    let mut request = app.create_request(&receiver.url("/down"), &["member.added"]);
    request.retry_schedule = vec![step(1500), step(10_000), step(10_000)];
    let id = app
        .create_webhook(request)
        .await
        .unwrap()
        .webhook
        .unwrap()
        .id;
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/down", 1, WAIT).await;

    // While the first retry waits (its time already set by the old
    // schedule): one more step, a short one.
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: id,
        retry_schedule: vec![step(1500), step(100)],
        update_mask: Some(mask("retry_schedule")),
        ..Default::default()
    })
    .await
    .unwrap();
    let got = receiver.wait_for("/down", 3, WAIT).await;
    let gaps = [got[1].at - got[0].at, got[2].at - got[1].at];
    assert!(gaps[0] >= Duration::from_millis(1500), "{gaps:?}");
    assert!(
        gaps[1] >= Duration::from_millis(100) && gaps[1] < Duration::from_secs(10),
        "the old step was used: {gaps:?}"
    );
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("failed".to_owned(), 3)]
    );
}
