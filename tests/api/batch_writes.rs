//! The hot path writes events, deliveries and attempts in batches: what
//! comes back must be exactly what went in, byte for byte, whatever the
//! text holds, on both backends. (It guarded the batches written as one
//! JSON parameter, tried and measured no cheaper: docs/performance.md.)

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, spawn_app_with};
use webhook_service::grpc::proto::DeliveryStatus;

on_every_backend!(rows_written_in_batches_read_back_exactly);

const WAIT: Duration = Duration::from_secs(10);

/// Text a JSON encoder must escape, and some it must not touch.
const TRICKY: &str = "\"quoted\" \\back\\slash\\u0041 ünïcødé € 😀 \u{2028}\t\n\u{1} '; -- end";

async fn rows_written_in_batches_read_back_exactly(backend: Backend) {
    let receiver = Receiver::start().await;
    // A failed attempt, then a success: both attempt rows carry the text.
    receiver.script(
        "/tricky",
        [
            Reply::status(500).body(TRICKY.as_bytes()),
            Reply::status(200).body(TRICKY.as_bytes()),
        ],
    );
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/tricky"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let data = json!({ "note": TRICKY, "nested": { "list": [TRICKY, 1.5, null, true] } });
    let key = format!("key {TRICKY}");
    let published = app
        .publish("member.added", data.clone(), &key)
        .await
        .unwrap();

    receiver.wait_for("/tricky", 2, WAIT).await;
    let rows = app.wait_until_settled(WAIT).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let delivery = &app.deliveries_of(&webhook.id).await[0];
    let delivery = app.get_delivery(&delivery.id).await.unwrap();
    assert_eq!(delivery.status(), DeliveryStatus::Succeeded);
    assert_eq!(delivery.event_id, published.event_id);
    assert_eq!(delivery.event_type, "member.added");
    let payload: serde_json::Value = serde_json::from_str(&delivery.payload).unwrap();
    assert_eq!(
        payload["data"], data,
        "the stored body is the published one"
    );
    assert_eq!(delivery.attempts.len(), 2, "{:?}", delivery.attempts);
    let (failed, succeeded) = (&delivery.attempts[0], &delivery.attempts[1]);
    assert_eq!((failed.attempt, succeeded.attempt), (1, 2));
    assert_eq!(failed.status_code, Some(500));
    assert_eq!(failed.error_kind, "http_status");
    assert_eq!(failed.response_excerpt, TRICKY);
    assert_eq!(succeeded.status_code, Some(200));
    assert_eq!(succeeded.error_kind, "");
    assert_eq!(succeeded.response_excerpt, TRICKY);
    let at = |t: &Option<webhook_service::grpc::timestamp::Timestamp>| {
        let t = t.as_ref().expect("a start time");
        (t.seconds, t.nanos)
    };
    assert!(at(&failed.started_at) < at(&succeeded.started_at));

    // The idempotency key was stored as given: the same one finds the event.
    let again = app.publish("member.added", data, &key).await.unwrap();
    assert_eq!(again.event_id, published.event_id);
}
