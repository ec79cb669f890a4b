//! How long delivery history is kept.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::json;
use tonic::Code;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, spawn_app_with};
use webhook_service::grpc::proto::DeliveryStatus;

on_every_backend!(
    retention_removes_old_finished_deliveries_and_their_events_only,
    an_event_stays_until_the_last_of_its_deliveries_goes,
    retention_forgets_idle_ordered_sequences_and_keeps_busy_ones,
);

const WAIT: Duration = Duration::from_secs(10);

fn uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).expect("a UUID")
}

async fn retention_removes_old_finished_deliveries_and_their_events_only(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retention = Duration::from_secs(3600);
        s.retention_interval = Duration::from_millis(200);
        s.retry_schedule = "1h".into();
    })
    .await;
    receiver.script("/stuck", [Reply::status(500)]);
    let kept = app
        .subscribe(&receiver.url("/kept"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let stuck = app
        .subscribe(&receiver.url("/stuck"), &["invite.created"])
        .await
        .webhook
        .unwrap();
    let old_event = app
        .publish("member.added", json!({"n": "old"}), "")
        .await
        .unwrap()
        .event_id;
    let recent_event = app
        .publish("member.added", json!({"n": "recent"}), "")
        .await
        .unwrap()
        .event_id;
    let stuck_event = app
        .publish("invite.created", json!({}), "")
        .await
        .unwrap()
        .event_id;
    receiver.wait_for("/kept", 2, WAIT).await;
    receiver.wait_for("/stuck", 1, WAIT).await;

    let of_kept = app.deliveries_of(&kept.id).await;
    assert_eq!(of_kept.len(), 2, "{of_kept:?}");
    let delivery_of = |event: &str| {
        of_kept
            .iter()
            .find(|d| d.event_id == event)
            .expect("a delivery of the event")
            .id
            .clone()
    };
    let (old, recent) = (delivery_of(&old_event), delivery_of(&recent_event));
    for id in [&old, &recent] {
        let done = app
            .wait_for_delivery(id, WAIT, |d| d.status() != DeliveryStatus::Pending)
            .await;
        assert_eq!(done.status(), DeliveryStatus::Succeeded);
    }
    let pending = app.deliveries_of(&stuck.id).await[0].id.clone();
    let waiting = app
        .wait_for_delivery(&pending, WAIT, |d| d.attempt_count == 1)
        .await;
    assert_eq!(waiting.status(), DeliveryStatus::Pending);
    for id in [&old, &recent, &pending] {
        assert_eq!(
            app.count_rows("delivery_attempts", "delivery_id", uuid(id))
                .await,
            1
        );
    }

    let two_hours = Duration::from_secs(2 * 3600);
    app.backdate("deliveries", "updated_at", uuid(&old), two_hours)
        .await;
    let old_event = backdate_event(&app, &old_event, two_hours).await;
    app.backdate("deliveries", "updated_at", uuid(&pending), two_hours)
        .await;
    let stuck_event = backdate_event(&app, &stuck_event, two_hours).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = (
            app.count_rows("deliveries", "id", uuid(&old)).await,
            app.count_rows("delivery_attempts", "delivery_id", uuid(&old))
                .await,
            app.count_rows("events", "id", uuid(&old_event)).await,
        );
        if left == (0, 0, 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "(delivery, attempts, event) left: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = app.get_delivery(&old).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // A few more passes change nothing else.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let recent_delivery = app.get_delivery(&recent).await.expect("recent delivery");
    assert_eq!(recent_delivery.status(), DeliveryStatus::Succeeded);
    assert_eq!(recent_delivery.attempts.len(), 1);
    assert_eq!(
        app.count_rows("delivery_attempts", "delivery_id", uuid(&recent))
            .await,
        1
    );
    assert_eq!(app.count_rows("events", "id", uuid(&recent_event)).await, 1);

    let still_pending = app.get_delivery(&pending).await.expect("pending delivery");
    assert_eq!(still_pending.status(), DeliveryStatus::Pending);
    assert_eq!(still_pending.attempts.len(), 1);
    assert_eq!(
        app.count_rows("delivery_attempts", "delivery_id", uuid(&pending))
            .await,
        1
    );
    assert_eq!(
        app.count_rows("events", "id", uuid(&stuck_event)).await,
        1,
        "the event of a pending delivery was deleted"
    );
}

/// An event counts its deliveries left (migration 24): with three, the
/// purge of one leaves it, the purge of the other two in one batch takes
/// it.
async fn an_event_stays_until_the_last_of_its_deliveries_goes(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retention = Duration::from_secs(3600);
        s.retention_interval = Duration::from_millis(200);
    })
    .await;
    let mut webhooks = Vec::new();
    for path in ["/first", "/second", "/third"] {
        let webhook = app.subscribe(&receiver.url(path), &["member.added"]).await;
        webhooks.push(webhook.webhook.unwrap());
    }
    let event = app
        .publish("member.added", json!({}), "")
        .await
        .unwrap()
        .event_id;
    let mut deliveries = Vec::new();
    for webhook in &webhooks {
        let id = app.deliveries_of(&webhook.id).await[0].id.clone();
        let done = app
            .wait_for_delivery(&id, WAIT, |d| d.status() != DeliveryStatus::Pending)
            .await;
        assert_eq!(done.status(), DeliveryStatus::Succeeded);
        deliveries.push(id);
    }
    let two_hours = Duration::from_secs(2 * 3600);
    let event = backdate_event(&app, &event, two_hours).await;
    app.backdate("deliveries", "updated_at", uuid(&deliveries[0]), two_hours)
        .await;
    wait_until_gone(&app, "deliveries", &deliveries[0]).await;
    // An old event without deliveries, made old only now: once a pass has
    // purged it, a pass began after the first delivery went. The other
    // deliveries keep their event through it.
    let unsent = app
        .publish("invite.created", json!({}), "")
        .await
        .unwrap()
        .event_id;
    let unsent = backdate_event(&app, &unsent, two_hours).await;
    wait_until_gone(&app, "events", &unsent).await;
    assert_eq!(app.count_rows("events", "id", uuid(&event)).await, 1);
    for delivery in &deliveries[1..] {
        assert_eq!(app.count_rows("deliveries", "id", uuid(delivery)).await, 1);
    }
    // Both in one statement, so that one batch of the purge takes both.
    let when = chrono::Utc::now() - chrono::Duration::from_std(two_hours).unwrap();
    let both = Query::update()
        .table(Alias::new("deliveries"))
        .value(Alias::new("updated_at"), when)
        .and_where(Expr::col(Alias::new("id")).is_in(deliveries[1..].iter().map(|d| uuid(d))))
        .to_owned();
    assert_eq!(app.execute(&both).await, 2);
    for delivery in &deliveries[1..] {
        wait_until_gone(&app, "deliveries", delivery).await;
    }
    wait_until_gone(&app, "events", &event).await;
}

/// Waits (up to 5 s) until `table` holds no row of id `id`.
async fn wait_until_gone(app: &crate::support::TestApp, table: &str, id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.count_rows(table, "id", uuid(id)).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{table} {id} is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Makes event `id` published `age` ago, as it would have been: its
/// `created_at`, and its id, a UUIDv7 whose time is its creation (event
/// retention reads ids by time), with its deliveries' reference to it.
/// Answers its new id.
async fn backdate_event(app: &crate::support::TestApp, id: &str, age: Duration) -> String {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let when = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap();
    let mut bytes = *uuid(id).as_bytes();
    bytes[..6].copy_from_slice(&when.timestamp_millis().to_be_bytes()[2..]);
    let (old, new) = (uuid(id), Uuid::from_bytes(bytes));
    let event = Query::update()
        .table(Alias::new("events"))
        .value(Alias::new("id"), new)
        .value(Alias::new("created_at"), when)
        .and_where(Expr::col(Alias::new("id")).eq(old))
        .to_owned();
    let deliveries = Query::update()
        .table(Alias::new("deliveries"))
        .value(Alias::new("event_id"), new)
        .and_where(Expr::col(Alias::new("event_id")).eq(old))
        .to_owned();
    // In one transaction: between the two, retention would find the event
    // old and without deliveries, and delete it.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let txn = db.begin().await.unwrap();
    assert_eq!(
        txn.execute(&event).await.unwrap().rows_affected(),
        1,
        "no event {id}"
    );
    txn.execute(&deliveries).await.unwrap();
    txn.commit().await.unwrap();
    db.close().await.unwrap();
    new.to_string()
}

/// The sequence rows of ordered webhooks, as `(ordering key, next number)`.
async fn sequences(app: &crate::support::TestApp) -> Vec<(String, i64)> {
    let rows = app
        .query("SELECT ordering_key, next_sequence FROM delivery_sequences ORDER BY ordering_key")
        .await;
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "ordering_key").unwrap(),
                r.try_get("", "next_sequence").unwrap(),
            )
        })
        .collect()
}

/// A sequence unused for longer than the retention period, with nothing
/// pending, is forgotten; one as old with a delivery still pending stays.
async fn retention_forgets_idle_ordered_sequences_and_keeps_busy_ones(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retention = Duration::from_secs(3600);
        s.retention_interval = Duration::from_millis(200);
        s.retry_schedule = "1h".into();
    })
    .await;
    receiver.script("/busy", [Reply::status(500)]);
    let idle = crate::ordering::ordered_webhook(&app, &receiver, "/idle").await;
    crate::ordering::ordered_webhook(&app, &receiver, "/busy").await;
    let event = crate::ordering::publish_keyed(&app, "a", json!({})).await;
    receiver.wait_for("/idle", 1, WAIT).await;
    receiver.wait_for("/busy", 1, WAIT).await;
    let sent = app
        .deliveries_of(&idle)
        .await
        .into_iter()
        .find(|d| d.event_id == event)
        .unwrap();
    app.wait_for_delivery(&sent.id, WAIT, |d| d.status() == DeliveryStatus::Succeeded)
        .await;
    // Both webhooks' sequence "a" has one row; age both past retention.
    assert_eq!(
        sequences(&app).await,
        [("a".to_owned(), 1), ("a".to_owned(), 1)]
    );
    let aged = sea_orm::sea_query::Query::update()
        .table(sea_orm::sea_query::Alias::new("delivery_sequences"))
        .value(
            sea_orm::sea_query::Alias::new("updated_at"),
            chrono::Utc::now() - chrono::Duration::hours(2),
        )
        .to_owned();
    assert_eq!(app.execute(&aged).await, 2);

    let deadline = std::time::Instant::now() + WAIT;
    while sequences(&app).await.len() == 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle sequence is still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The round that forgot the idle one kept the busy one.
    let left = app.query("SELECT webhook_id FROM delivery_sequences").await;
    assert_eq!(left.len(), 1);
    let pending = app
        .query(
            "SELECT COUNT(*) AS n FROM deliveries d JOIN delivery_sequences s \
                ON d.webhook_id = s.webhook_id AND d.ordering_key = s.ordering_key \
                WHERE d.status = 'pending'",
        )
        .await;
    assert_eq!(pending[0].try_get::<i64>("", "n").unwrap(), 1);
}
