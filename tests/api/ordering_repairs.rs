//! Ordered delivery when deliveries come back: RetryDelivery and
//! RecoverWebhook put them at the back of their sequence, and a webhook
//! enabled again leaves no sequence without its head.

use std::time::{Duration, Instant};

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::json;
use uuid::Uuid;

use crate::on_every_backend;
use crate::ordering::{ordered_webhook, publish_keyed, wait_for_successes};
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp, authorized, deliver_to, spawn_app_with};
use webhook_service::grpc::proto::{
    Delivery, DeliveryStatus, RecoverWebhookRequest, RetryDeliveryRequest,
};

on_every_backend!(
    a_retried_delivery_goes_after_those_published_since,
    recovered_deliveries_go_to_the_back_in_their_first_order,
    a_webhook_enabled_again_gives_each_sequence_a_head,
);

const WAIT: Duration = Duration::from_secs(20);

/// Every sequence with pending deliveries has exactly one that is not
/// behind, and it is the lowest.
async fn assert_one_head_per_sequence(app: &TestApp) {
    let rows = app
        .query(
            "SELECT ordering_key, \
               SUM(CASE WHEN behind THEN 0 ELSE 1 END) AS heads, \
               MIN(sequence) AS lowest, \
               MIN(CASE WHEN behind THEN NULL ELSE sequence END) AS head \
             FROM deliveries WHERE status = 'pending' AND ordering_key IS NOT NULL \
             GROUP BY webhook_id, ordering_key",
        )
        .await;
    assert!(!rows.is_empty(), "no sequence has pending deliveries");
    for row in rows {
        let key: String = row.try_get("", "ordering_key").unwrap();
        let heads: i64 = row.try_get("", "heads").unwrap();
        let lowest: i64 = row.try_get("", "lowest").unwrap();
        let head: Option<i64> = row.try_get("", "head").unwrap();
        assert_eq!(heads, 1, "sequence {key:?} has {heads} heads");
        assert_eq!(
            head,
            Some(lowest),
            "sequence {key:?}'s head is not its lowest"
        );
    }
}

/// The delivery of `event` to `webhook`.
async fn delivery_of(app: &TestApp, webhook: &str, event: &str) -> Delivery {
    app.deliveries_of(webhook)
        .await
        .into_iter()
        .find(|d| d.event_id == event)
        .expect("a delivery of the event")
}

/// Waits until a request to `path` is open at the receiver (held).
async fn until_open(receiver: &Receiver, path: &str) {
    let deadline = Instant::now() + WAIT;
    while receiver.in_flight(path) == 0 {
        assert!(Instant::now() < deadline, "no request to {path} arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An app delivering to `receiver` without retries: a failure is final.
async fn without_retries(backend: Backend, receiver: &Receiver) -> TestApp {
    spawn_app_with(backend, |s| {
        deliver_to(receiver)(s);
        s.retry_schedule = String::new();
    })
    .await
}

/// With the receiver holding requests, publishes event `held` of key "k"
/// and waits until its request is open, then publishes `behind`.
async fn hold_then_publish(app: &TestApp, receiver: &Receiver, held: u64, behind: u64) {
    receiver.pause();
    publish_keyed(app, "k", json!({"n": held})).await;
    until_open(receiver, "/r").await;
    publish_keyed(app, "k", json!({"n": behind})).await;
}

/// The `n` of each request `path` answered 2xx, in order.
fn succeeded(receiver: &Receiver, path: &str) -> Vec<u64> {
    receiver
        .received(path)
        .iter()
        .filter(|r| r.status < 300)
        .map(|r| r.json()["data"]["n"].as_u64().unwrap())
        .collect()
}

/// Event 0 failed for good; event 1 is in flight (held at the receiver)
/// and 2 waits behind it. Retried now, 0 goes after 2.
async fn a_retried_delivery_goes_after_those_published_since(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = without_retries(backend, &receiver).await;
    let webhook = ordered_webhook(&app, &receiver, "/r").await;
    receiver.script("/r", [Reply::status(500)]);
    let first = publish_keyed(&app, "k", json!({"n": 0})).await;
    let failed = delivery_of(&app, &webhook, &first).await;
    app.wait_for_delivery(&failed.id, WAIT, |d| d.status() == DeliveryStatus::Failed)
        .await;

    hold_then_publish(&app, &receiver, 1, 2).await;
    app.webhooks()
        .await
        .retry_delivery(authorized(
            RetryDeliveryRequest {
                organization_id: app.organization.to_string(),
                delivery_id: failed.id.clone(),
            },
            &app.token("ADMIN"),
        ))
        .await
        .expect("retry");
    assert_one_head_per_sequence(&app).await;
    receiver.release();

    wait_for_successes(&receiver, "/r", 3).await;
    assert_eq!(succeeded(&receiver, "/r"), [1, 2, 0]);
    assert_eq!(receiver.peak_in_flight("/r"), 1);
}

/// Events 0 and 1 failed for good; 2 is in flight and 3 behind it.
/// RecoverWebhook sends 0 and 1 again after 3, in their first order.
async fn recovered_deliveries_go_to_the_back_in_their_first_order(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = without_retries(backend, &receiver).await;
    let webhook = ordered_webhook(&app, &receiver, "/r").await;
    receiver.script("/r", [Reply::status(500), Reply::status(500)]);
    for n in 0..2 {
        let event = publish_keyed(&app, "k", json!({"n": n})).await;
        let delivery = delivery_of(&app, &webhook, &event).await;
        app.wait_for_delivery(&delivery.id, WAIT, |d| d.status() == DeliveryStatus::Failed)
            .await;
    }

    hold_then_publish(&app, &receiver, 2, 3).await;
    let recovered = app
        .webhooks()
        .await
        .recover_webhook(authorized(
            RecoverWebhookRequest {
                organization_id: app.organization.to_string(),
                webhook_id: webhook.clone(),
                since: Some(webhook_service::grpc::timestamp::Timestamp::default()),
            },
            &app.token("ADMIN"),
        ))
        .await
        .expect("recover")
        .into_inner();
    assert_eq!(recovered.deliveries_scheduled, 2);
    assert_one_head_per_sequence(&app).await;
    receiver.release();

    wait_for_successes(&receiver, "/r", 4).await;
    assert_eq!(succeeded(&receiver, "/r"), [2, 3, 0, 1]);
    assert_eq!(receiver.peak_in_flight("/r"), 1);
}

/// A disabling's sweep cancels a webhook's pending deliveries in batches;
/// enabled again before it is done, the webhook may be left with a head
/// cancelled and its successors behind. (Set up here as the sweep leaves
/// it: the head cancelled by SQL while the webhook is paused.) Enabling it
/// makes the next one the head, and the rest follow in order.
async fn a_webhook_enabled_again_gives_each_sequence_a_head(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1h".into();
    })
    .await;
    let webhook = ordered_webhook(&app, &receiver, "/r").await;
    receiver.script("/r", [Reply::status(500)]);
    let head = publish_keyed(&app, "k", json!({"n": 0})).await;
    for n in 1..5 {
        publish_keyed(&app, "k", json!({"n": n})).await;
    }
    let head = delivery_of(&app, &webhook, &head).await;
    app.wait_for_delivery(&head.id, WAIT, |d| d.attempt_count == 1)
        .await;
    app.set_enabled(&webhook, false).await;
    let cancel = Query::update()
        .table(Alias::new("deliveries"))
        .value(Alias::new("status"), "cancelled")
        .value(Alias::new("last_error"), "disabled: every delivery failed")
        .and_where(Expr::col(Alias::new("id")).eq(Uuid::parse_str(&head.id).unwrap()))
        .to_owned();
    assert_eq!(app.execute(&cancel).await, 1);

    app.set_enabled(&webhook, true).await;
    assert_one_head_per_sequence(&app).await;
    wait_for_successes(&receiver, "/r", 4).await;
    assert_eq!(succeeded(&receiver, "/r"), [1, 2, 3, 4]);
}
