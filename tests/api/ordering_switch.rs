//! UpdateWebhook's `ordering`, both ways: made unordered, what waited
//! behind a head goes out at once; made ordered, what is published from
//! then on goes out in order, what was pending already does not wait.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::on_every_backend;
use crate::ordering::{ordered_webhook, publish_keyed, wait_for_successes};
use crate::support::catalogue::violations;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, deliver_to, field_mask, spawn_app_with};
use webhook_service::grpc::proto::{Ordering, UpdateWebhookRequest, Webhook};

on_every_backend!(
    made_unordered_the_deliveries_behind_a_head_go_out_at_once,
    made_ordered_new_events_wait_their_turn_and_pending_ones_do_not,
);

const WAIT: Duration = Duration::from_secs(20);

async fn set_ordering(
    app: &TestApp,
    webhook: &str,
    ordering: i32,
) -> Result<Webhook, tonic::Status> {
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: webhook.to_owned(),
        ordering,
        update_mask: field_mask(&["ordering"]),
        ..Default::default()
    })
    .await
}

/// Waits until `count` requests to `path` are open at once.
async fn until_in_flight(receiver: &Receiver, path: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while receiver.in_flight(path) < count {
        assert!(
            Instant::now() < deadline,
            "{path}: {} requests in flight, never {count}",
            receiver.in_flight(path)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn pending_behind(app: &TestApp) -> i64 {
    let rows = app
        .query("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending' AND behind")
        .await;
    rows[0].try_get("", "n").unwrap()
}

/// Five events of one key: the first held at the receiver, four behind
/// it. Made unordered, the four are sent while the first is still held.
async fn made_unordered_the_deliveries_behind_a_head_go_out_at_once(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = ordered_webhook(&app, &receiver, "/r").await;
    receiver.pause();
    for n in 0..5 {
        publish_keyed(&app, "k", json!({"n": n})).await;
    }
    until_in_flight(&receiver, "/r", 1).await;
    assert_eq!(pending_behind(&app).await, 4);

    let updated = set_ordering(&app, &webhook, Ordering::Unordered.into())
        .await
        .unwrap();
    assert_eq!(updated.ordering(), Ordering::Unordered);
    assert_eq!(pending_behind(&app).await, 0);
    until_in_flight(&receiver, "/r", 5).await;
    receiver.release();
    wait_for_successes(&receiver, "/r", 5).await;
}

/// An unordered webhook with one event held at the receiver is made
/// ordered: three events of one key published then go out one at a time,
/// in order, while the older one (in no sequence) does not hold them up.
/// An ordering the service does not know is refused on its field.
async fn made_ordered_new_events_wait_their_turn_and_pending_ones_do_not(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/r"), &["member.added"])
        .await
        .webhook
        .unwrap()
        .id;
    let refused = set_ordering(&app, &webhook, 9).await.unwrap_err();
    assert_eq!(violations(&refused)[0].0, "ordering");

    receiver.pause();
    publish_keyed(&app, "k", json!({"n": 0})).await;
    until_in_flight(&receiver, "/r", 1).await;
    let updated = set_ordering(&app, &webhook, Ordering::Ordered.into())
        .await
        .unwrap();
    assert_eq!(updated.ordering(), Ordering::Ordered);
    assert_eq!(
        app.get_webhook(&webhook).await.unwrap().ordering(),
        Ordering::Ordered
    );
    for n in 1..4 {
        publish_keyed(&app, "k", json!({"n": n})).await;
    }
    // The older one does not hold up the sequence's head...
    until_in_flight(&receiver, "/r", 2).await;
    // ...and the other two wait behind it.
    assert_eq!(pending_behind(&app).await, 2);
    receiver.release();
    let got = wait_for_successes(&receiver, "/r", 4).await;
    let ordered: Vec<u64> = got
        .iter()
        .map(|r| r.json()["data"]["n"].as_u64().unwrap())
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(ordered, [1, 2, 3]);
}
