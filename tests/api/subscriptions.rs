//! Publishing finds the webhooks subscribed to an event's type through an
//! index of subscriptions: it must follow every change of a webhook's
//! events, its deletion, and the webhooks registered before it existed.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{
    Backend, TestApp, deliver_to, field_mask, postgres_available, spawn_app_at, spawn_app_with,
};
use webhook_service::grpc::proto::UpdateWebhookRequest;

on_every_backend!(
    an_event_reaches_exactly_the_few_webhooks_subscribed_to_its_type,
    changing_a_webhook_s_events_changes_what_it_receives,
    a_deleted_webhook_gets_nothing,
);

const WAIT: Duration = Duration::from_secs(10);

/// Creates a webhook at `path` through CreateWebhook; returns its id.
async fn webhook(app: &TestApp, receiver: &Receiver, path: &str, events: &[&str]) -> String {
    app.subscribe(&receiver.url(path), events)
        .await
        .webhook
        .unwrap()
        .id
}

/// The event types that reached `path`, sorted: deliveries of several
/// events may arrive in any order.
fn types_at(receiver: &Receiver, path: &str) -> Vec<String> {
    let mut types: Vec<String> = receiver
        .received(path)
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    types
}

async fn an_event_reaches_exactly_the_few_webhooks_subscribed_to_its_type(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    for i in 0..40 {
        let events: &[&str] = if i % 2 == 0 {
            &["member.added"]
        } else {
            &["invite.created", "member.role_updated", "member.added"]
        };
        webhook(&app, &receiver, &format!("/other/{i}"), events).await;
    }
    let subscribed = [
        ("/subscribed/0", &["member.removed"][..]),
        ("/subscribed/1", &["member.added", "member.removed"][..]),
        ("/subscribed/2", &["invite.created", "member.removed"][..]),
    ];
    for (path, events) in subscribed {
        webhook(&app, &receiver, path, events).await;
    }
    let paused = webhook(&app, &receiver, "/paused", &["member.removed"]).await;
    app.set_enabled(&paused, false).await;

    let published = app.publish("member.removed", json!({}), "").await.unwrap();
    assert_eq!(published.deliveries_scheduled, 3);
    for (path, _) in subscribed {
        receiver.wait_for(path, 1, WAIT).await;
    }
    app.wait_until_settled(WAIT).await;
    for (path, _) in subscribed {
        assert_eq!(types_at(&receiver, path), ["member.removed"], "{path}");
    }
    assert_eq!(receiver.total(), 3, "{:?}", receiver.all_received());
}

async fn changing_a_webhook_s_events_changes_what_it_receives(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let id = webhook(&app, &receiver, "/changing", &["member.added"]).await;
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: id.clone(),
        events: vec!["member.removed".into(), "invite.created".into()],
        update_mask: field_mask(&["events"]),
        ..Default::default()
    })
    .await
    .expect("update events");

    let old = app.publish("member.added", json!({}), "").await.unwrap();
    assert_eq!(old.deliveries_scheduled, 0, "the type it no longer names");
    for new in ["member.removed", "invite.created"] {
        let published = app.publish(new, json!({}), "").await.unwrap();
        assert_eq!(published.deliveries_scheduled, 1, "{new}");
    }
    receiver.wait_for("/changing", 2, WAIT).await;
    app.wait_until_settled(WAIT).await;
    assert_eq!(
        types_at(&receiver, "/changing"),
        ["invite.created", "member.removed"]
    );
}

async fn a_deleted_webhook_gets_nothing(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    webhook(&app, &receiver, "/kept", &["member.added"]).await;
    let deleted = webhook(&app, &receiver, "/deleted", &["member.added"]).await;
    app.delete_webhook(&deleted).await.unwrap();

    let published = app.publish("member.added", json!({}), "").await.unwrap();
    assert_eq!(published.deliveries_scheduled, 1);
    receiver.wait_for("/kept", 1, WAIT).await;
    app.wait_until_settled(WAIT).await;
    assert!(receiver.received("/deleted").is_empty());
    // Its subscriptions went with it, not left for every publish to skip.
    let id = Uuid::parse_str(&deleted).unwrap();
    assert_eq!(app.count_rows("subscriptions", "webhook_id", id).await, 0);
}

#[tokio::test]
async fn sqlite_webhooks_registered_before_the_index_keep_receiving_after_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("before.db").display());
    webhooks_registered_before_the_index_keep_receiving_after_the_migration(url).await;
}

#[tokio::test]
async fn postgres_webhooks_registered_before_the_index_keep_receiving_after_the_migration() {
    if postgres_available() {
        let url = crate::support::postgres::fresh_database().unwrap();
        webhooks_registered_before_the_index_keep_receiving_after_the_migration(url).await;
    }
}

/// The migration that adds the index only adds a table: dropping it and
/// its record gives the schema before it, with webhooks in it. The next
/// start migrates that database as it would an old one.
async fn webhooks_registered_before_the_index_keep_receiving_after_the_migration(url: String) {
    let receiver = Receiver::start().await;
    let before = spawn_app_at(url.clone(), deliver_to(&receiver)).await;
    webhook(&before, &receiver, "/added", &["member.added"]).await;
    webhook(
        &before,
        &receiver,
        "/both",
        &["invite.created", "member.added"],
    )
    .await;
    webhook(&before, &receiver, "/invites", &["invite.created"]).await;
    let paused = webhook(&before, &receiver, "/paused", &["member.added"]).await;
    before.set_enabled(&paused, false).await;
    let organization = before.organization;
    before.stop_within(WAIT).await;
    {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&url).await.unwrap();
        db.execute_unprepared("DROP TABLE subscriptions")
            .await
            .unwrap();
        let forgotten = db
            .execute_unprepared(
                "DELETE FROM seaql_migrations WHERE version = 'm20261130_000008_subscriptions'",
            )
            .await
            .unwrap();
        assert_eq!(forgotten.rows_affected(), 1, "the migration's record");
        db.close().await.unwrap();
    }

    let mut after = spawn_app_at(url, deliver_to(&receiver)).await;
    after.organization = organization;
    let added = after.publish("member.added", json!({}), "").await.unwrap();
    assert_eq!(added.deliveries_scheduled, 2);
    let invited = after
        .publish("invite.created", json!({}), "")
        .await
        .unwrap();
    assert_eq!(invited.deliveries_scheduled, 2);
    receiver.wait_for("/both", 2, WAIT).await;
    after.wait_until_settled(WAIT).await;
    assert_eq!(types_at(&receiver, "/added"), ["member.added"]);
    assert_eq!(
        types_at(&receiver, "/both"),
        ["invite.created", "member.added"]
    );
    assert_eq!(types_at(&receiver, "/invites"), ["invite.created"]);
    assert!(receiver.received("/paused").is_empty());
}
