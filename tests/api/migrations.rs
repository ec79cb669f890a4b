//! Databases from before a migration: the next start fills in what the
//! migration adds from the rows already there.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::json;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, deliver_to, spawn_app_at};
use webhook_service::grpc::proto::{DeliveryStatus, ListDeliveriesRequest, Ordering};
use webhook_service::store::{SecretBox, Store};

on_every_backend!(
    deliveries_stored_before_their_event_type_and_pause_were_kept_get_both,
    deliveries_pending_before_ordered_delivery_stay_unordered_and_claimable,
);

const WAIT: Duration = Duration::from_secs(10);

/// Runs `undo` on the stopped service's database, and makes the retry of
/// `waiting` come due as if the service had been down meanwhile.
async fn undo_and_make_due(url: &str, undo: &[&str], waiting: &str) {
    let db = sea_orm::Database::connect(url).await.unwrap();
    for statement in undo {
        db.execute_unprepared(statement).await.unwrap();
    }
    let due = Query::update()
        .table(Alias::new("deliveries"))
        .value(
            Alias::new("next_attempt_at"),
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .and_where(Expr::col(Alias::new("id")).eq(Uuid::parse_str(waiting).unwrap()))
        .to_owned();
    assert_eq!(db.execute(&due).await.unwrap().rows_affected(), 1);
    db.close().await.unwrap();
}

/// What migration 25 undone leaves: the listing indexes by status (of
/// every delivery) and by event type. Undone first.
const BEFORE_25: &[&str] = &[
    "DROP INDEX deliveries_organization_status",
    "CREATE INDEX deliveries_organization_status ON deliveries (organization_id, status, id)",
    "CREATE INDEX deliveries_organization_type ON deliveries (organization_id, event_type, id)",
    "DELETE FROM seaql_migrations WHERE version = 'm20261213_000025_listing_indexes'",
];

/// What migration 24 undone leaves: events without their count of
/// deliveries left, and the index of deliveries by event. Undone after 25.
const BEFORE_24: &[&str] = &[
    "CREATE INDEX deliveries_event ON deliveries (event_id)",
    "ALTER TABLE events DROP COLUMN deliveries_left",
    "DELETE FROM seaql_migrations WHERE version = 'm20261212_000024_event_deliveries_left'",
];

/// What migration 23 undone leaves: the indexes it dropped or narrowed, as
/// they were. Undone first by the tests below, whose own undoing expects them.
const BEFORE_23: &[&str] = &[
    "DROP INDEX events_idempotency",
    "CREATE UNIQUE INDEX events_idempotency ON events (organization_id, idempotency_key)",
    "CREATE INDEX events_created ON events (created_at)",
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) \
     WHERE status = 'pending' AND NOT paused AND NOT behind",
    "DELETE FROM seaql_migrations WHERE version = 'm20261211_000023_delivery_indexes'",
];

/// What migrations 10 and 11 undone leave: the schema of 9, with the rows
/// as they are.
const BEFORE_10: &[&str] = &[
    "DROP INDEX deliveries_organization",
    "DROP INDEX deliveries_organization_status",
    "DROP INDEX deliveries_organization_type",
    "DROP INDEX deliveries_webhook",
    "DROP INDEX webhooks_organization",
    "DROP INDEX events_created",
    "DROP INDEX deliveries_due",
    "DROP INDEX deliveries_organization_due",
    "CREATE INDEX deliveries_webhook ON deliveries (webhook_id)",
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX deliveries_organization_due ON deliveries (organization_id, next_attempt_at) \
     WHERE status = 'pending'",
    "ALTER TABLE deliveries DROP COLUMN paused",
    "ALTER TABLE deliveries DROP COLUMN event_type",
    "DELETE FROM seaql_migrations WHERE version IN \
     ('m20261205_000010_tenant_ranges', 'm20261205_000011_paused_deliveries')",
];

async fn deliveries_stored_before_their_event_type_and_pause_were_kept_get_both(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.always("/paused", 500);
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("before.db").display()),
        Backend::Postgres => crate::support::postgres::fresh_database().unwrap(),
    };
    let settings = |s: &mut webhook_service::config::Settings| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1h".into();
    };
    let before = spawn_app_at(url.clone(), settings).await;
    let organization = before.organization;
    let paused = before
        .subscribe(&receiver.url("/paused"), &["member.added"])
        .await
        .webhook
        .unwrap();
    before
        .subscribe(&receiver.url("/sent"), &["invite.created"])
        .await;
    before.publish("member.added", json!({}), "").await.unwrap();
    before
        .publish("invite.created", json!({}), "")
        .await
        .unwrap();
    receiver.wait_for("/paused", 1, WAIT).await;
    receiver.wait_for("/sent", 1, WAIT).await;
    let waiting = before.deliveries_of(&paused.id).await[0].id.clone();
    before
        .wait_for_delivery(&waiting, WAIT, |d| d.attempt_count == 1)
        .await;
    before.set_enabled(&paused.id, false).await;
    before.stop_within(WAIT).await;
    undo_and_make_due(
        &url,
        &[BEFORE_25, BEFORE_24, BEFORE_23, BEFORE_10].concat(),
        &waiting,
    )
    .await;

    receiver.always("/paused", 200);
    let mut after = spawn_app_at(url.clone(), settings).await;
    after.organization = organization;
    for (event_type, count) in [
        ("member.added", 1),
        ("invite.created", 1),
        ("webhook.created", 0),
    ] {
        let listed = after
            .list_deliveries(ListDeliveriesRequest {
                event_type: event_type.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), count, "{event_type}: {listed:?}");
        assert!(
            listed.iter().all(|d| d.event_type == event_type),
            "{listed:?}"
        );
    }
    // Every event stored before counts its deliveries (migration 24).
    let counted = after
        .query(
            "SELECT (SELECT COUNT(*) FROM events WHERE deliveries_left IS NULL) AS uncounted, \
             (SELECT COALESCE(SUM(deliveries_left), 0) FROM events) AS counted, \
             (SELECT COUNT(*) FROM deliveries) AS deliveries",
        )
        .await;
    let n = |column: &str| counted[0].try_get::<i64>("", column).unwrap();
    assert_eq!(n("uncounted"), 0);
    assert_eq!(n("counted"), n("deliveries"));
    // The paused webhook's delivery, due, is marked paused: no work to
    // claim.
    let marked = after
        .query("SELECT COUNT(*) AS n FROM deliveries WHERE paused")
        .await;
    assert_eq!(marked[0].try_get::<i64>("", "n").unwrap(), 1);
    let store = Store::connect(&url, SecretBox::new(None)).await.unwrap();
    let found = store.organizations_with_pending(None, 64).await.unwrap();
    assert!(found.claimable.is_empty(), "{:?}", found.claimable);
    assert_eq!(receiver.received("/paused").len(), 1);

    after.set_enabled(&paused.id, true).await;
    let sent = after
        .wait_for_delivery(&waiting, WAIT, |d| d.status() != DeliveryStatus::Pending)
        .await;
    assert_eq!(sent.status(), DeliveryStatus::Succeeded);
    assert_eq!(receiver.received("/paused").len(), 2);
}

/// What migration 16 undone leaves: the schema of 15, with the rows as
/// they are.
const BEFORE_16: &[&str] = &[
    "DROP INDEX deliveries_sequence",
    "DROP INDEX deliveries_due",
    "DROP INDEX deliveries_organization_due",
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) \
     WHERE status = 'pending' AND NOT paused",
    "CREATE INDEX deliveries_organization_due ON deliveries (organization_id, next_attempt_at) \
     WHERE status = 'pending' AND NOT paused",
    "DROP TABLE delivery_sequences",
    "ALTER TABLE deliveries DROP COLUMN behind",
    "ALTER TABLE deliveries DROP COLUMN sequence",
    "ALTER TABLE deliveries DROP COLUMN ordering_key",
    "ALTER TABLE webhooks DROP COLUMN ordered",
    "DELETE FROM seaql_migrations WHERE version = 'm20261207_000016_ordered_delivery'",
];

/// A delivery waiting for its retry when the service stops, and a webhook
/// registered then: after the upgrade the webhook is unordered, the
/// delivery in no sequence and not behind anything, and its retry is
/// claimed and sent when it comes due.
async fn deliveries_pending_before_ordered_delivery_stay_unordered_and_claimable(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.always("/late", 500);
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("before.db").display()),
        Backend::Postgres => crate::support::postgres::fresh_database().unwrap(),
    };
    let settings = |s: &mut webhook_service::config::Settings| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1h".into();
    };
    let before = spawn_app_at(url.clone(), settings).await;
    let organization = before.organization;
    let late = before
        .subscribe(&receiver.url("/late"), &["member.added"])
        .await
        .webhook
        .unwrap();
    before.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/late", 1, WAIT).await;
    let waiting = before.deliveries_of(&late.id).await[0].id.clone();
    before
        .wait_for_delivery(&waiting, WAIT, |d| d.attempt_count == 1)
        .await;
    before.stop_within(WAIT).await;
    undo_and_make_due(
        &url,
        &[BEFORE_25, BEFORE_24, BEFORE_23, BEFORE_16].concat(),
        &waiting,
    )
    .await;

    receiver.always("/late", 200);
    let mut after = spawn_app_at(url.clone(), settings).await;
    after.organization = organization;
    assert_eq!(
        after.get_webhook(&late.id).await.unwrap().ordering(),
        Ordering::Unordered
    );
    let sent = after
        .wait_for_delivery(&waiting, WAIT, |d| d.status() != DeliveryStatus::Pending)
        .await;
    assert_eq!(sent.status(), DeliveryStatus::Succeeded);
    assert_eq!(receiver.received("/late").len(), 2);
    let in_sequences = after
        .query(
            "SELECT COUNT(*) AS n FROM deliveries \
             WHERE behind OR ordering_key IS NOT NULL OR sequence IS NOT NULL",
        )
        .await;
    assert_eq!(in_sequences[0].try_get::<i64>("", "n").unwrap(), 0);
}
