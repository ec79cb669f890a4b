//! An archived event type: no longer published nor subscribed to, hidden
//! from the catalogue unless asked; the webhooks already subscribed keep it
//! and go on receiving their other types.

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::catalogue::new_event_type;
use crate::support::receiver::Receiver;
use crate::support::{Backend, assert_field_violation, deliver_to, field_mask, spawn_app_with};
use webhook_service::grpc::proto::UpdateWebhookRequest;

on_every_backend!(
    an_archived_type_is_neither_published_nor_subscribed_to_and_is_listed_only_when_asked,
    a_webhook_keeps_an_archived_type_it_has_and_still_receives_its_other_types,
);

const WAIT: Duration = Duration::from_secs(10);

async fn an_archived_type_is_neither_published_nor_subscribed_to_and_is_listed_only_when_asked(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.create_invoice_paid().await;

    app.archive_event_type("invoice.paid").await;

    let refused = app
        .publish("invoice.paid", json!({"amount": 1, "currency": "EUR"}), "")
        .await
        .unwrap_err();
    let reason = assert_field_violation(&refused, "type");
    assert!(reason.contains("archived"), "{reason}");
    let refused = app
        .create_webhook(app.create_request(&receiver.url("/new"), &["invoice.paid"]))
        .await
        .unwrap_err();
    let reason = assert_field_violation(&refused, "events");
    assert!(reason.contains("\"invoice.paid\""), "{reason}");
    assert!(app.query("SELECT id FROM webhooks").await.is_empty());

    assert!(
        !app.event_type_names(false)
            .await
            .contains(&"invoice.paid".into())
    );
    assert!(
        app.event_type_names(true)
            .await
            .contains(&"invoice.paid".into())
    );
    let got = app
        .get_event_type_as(&app.token("MEMBER"), "invoice.paid")
        .await
        .unwrap();
    assert!(got.archived, "{got:?}");

    // Archiving is undone the same way.
    let unarchived = app
        .update_event_type(webhook_service::grpc::proto::UpdateEventTypeRequest {
            name: "invoice.paid".into(),
            archived: false,
            update_mask: field_mask(&["archived"]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!unarchived.archived);
    app.publish("invoice.paid", json!({"amount": 1, "currency": "EUR"}), "")
        .await
        .unwrap();
}

async fn a_webhook_keeps_an_archived_type_it_has_and_still_receives_its_other_types(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.create_invoice_paid().await;
    app.create_event_type(new_event_type("refund.issued", None, None))
        .await
        .unwrap();
    let url = receiver.url("/both");
    let webhook = app
        .subscribe(&url, &["invoice.paid", "member.added"])
        .await
        .webhook
        .unwrap();

    app.archive_event_type("invoice.paid").await;
    app.archive_event_type("refund.issued").await;

    let kept = app.get_webhook(&webhook.id).await.unwrap();
    assert_eq!(kept.events, ["invoice.paid", "member.added"]);
    let published = app
        .publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    assert_eq!(published.deliveries_scheduled, 1);
    let got = receiver.wait_for("/both", 1, WAIT).await;
    assert_eq!(got[0].json()["type"], "member.added");
    assert_eq!(got[0].json()["id"], published.event_id);

    let events = |events: &[&str]| UpdateWebhookRequest {
        webhook_id: webhook.id.clone(),
        events: events.iter().map(|e| e.to_string()).collect(),
        update_mask: field_mask(&["events"]),
        ..Default::default()
    };
    // Keeping the archived type it has, while adding another one: fine.
    let updated = app
        .update_webhook(events(&["invoice.paid", "member.added", "member.removed"]))
        .await
        .unwrap();
    assert_eq!(
        updated.events,
        ["invoice.paid", "member.added", "member.removed"]
    );
    // Adding an archived type it does not have: refused, nothing changed.
    let refused = app
        .update_webhook(events(&["invoice.paid", "refund.issued"]))
        .await
        .unwrap_err();
    let reason = assert_field_violation(&refused, "events");
    assert!(reason.contains("\"refund.issued\""), "{reason}");
    assert!(!reason.contains("\"invoice.paid\""), "{reason}");
    assert_eq!(
        app.get_webhook(&webhook.id).await.unwrap().events,
        ["invoice.paid", "member.added", "member.removed"]
    );
    // Dropped, an archived type cannot come back.
    app.update_webhook(events(&["member.added"])).await.unwrap();
    let refused = app
        .update_webhook(events(&["member.added", "invoice.paid"]))
        .await
        .unwrap_err();
    assert_field_violation(&refused, "events");

    app.wait_until_settled(WAIT).await;
    assert_eq!(receiver.received("/both").len(), 1);
}
