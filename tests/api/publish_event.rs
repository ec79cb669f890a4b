//! EventService.PublishEvent: who may call it and what it accepts.

use std::time::Duration;

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{
    Backend, assert_field_violation, authorized, deliver_to, spawn_app_with, to_struct,
};
use webhook_service::grpc::proto::PublishEventRequest;

on_every_backend!(
    a_token_without_the_publish_scope_is_permission_denied,
    a_repeated_idempotency_key_returns_the_first_event_and_schedules_nothing,
    an_unknown_type_is_invalid_argument_on_type,
    data_over_256_kib_is_invalid_argument_on_data,
    a_bad_organization_id_is_invalid_argument_on_organization_id,
    a_token_without_the_publish_scope_is_permission_denied_whatever_the_organization_id,
    nul_in_an_idempotency_key_is_invalid_argument,
);

fn request(organization: uuid::Uuid, event_type: &str) -> PublishEventRequest {
    PublishEventRequest {
        organization_id: organization.to_string(),
        r#type: event_type.into(),
        data: Some(to_struct(json!({}))),
        ..Default::default()
    }
}

async fn a_token_without_the_publish_scope_is_permission_denied(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let now = jsonwebtoken::get_current_timestamp();
    let other_scope = crate::support::hs256(&json!({
        "sub": "svc", "scope": "events:read publish", "iat": now, "exp": now + 60,
    }));
    for token in [app.token("OWNER"), other_scope] {
        let status = app
            .events()
            .await
            .publish_event(authorized(
                request(app.organization, "member.added"),
                &token,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    let status = app
        .events()
        .await
        .publish_event(request(app.organization, "member.added"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn a_repeated_idempotency_key_returns_the_first_event_and_schedules_nothing(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/once"), &["member.removed"])
        .await;
    let first = app
        .publish("member.removed", json!({"n": 1}), "key-1")
        .await
        .unwrap();
    let again = app
        .publish("member.removed", json!({"n": 2}), "key-1")
        .await
        .unwrap();
    assert_eq!((first.deliveries_scheduled, first.duplicate), (1, false));
    assert_eq!(again.event_id, first.event_id);
    assert_eq!((again.deliveries_scheduled, again.duplicate), (0, true));

    let other = app
        .publish("member.removed", json!({}), "key-2")
        .await
        .unwrap();
    assert_ne!(other.event_id, first.event_id);
    receiver.wait_for("/once", 2, Duration::from_secs(10)).await;
    app.wait_until_settled(Duration::from_secs(10)).await;
    assert_eq!(receiver.received("/once").len(), 2);
}

async fn an_unknown_type_is_invalid_argument_on_type(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    for bad in ["member.exploded", "", "webhook.ping"] {
        let status = app.publish(bad, json!({}), "").await.unwrap_err();
        assert_field_violation(&status, "type");
    }
}

async fn data_over_256_kib_is_invalid_argument_on_data(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let just_under = json!({"blob": "x".repeat(256 * 1024 - 20)});
    assert!(app.publish("member.added", just_under, "").await.is_ok());
    let over = json!({"blob": "x".repeat(256 * 1024)});
    let status = app.publish("member.added", over, "").await.unwrap_err();
    assert_field_violation(&status, "data");
}

async fn a_bad_organization_id_is_invalid_argument_on_organization_id(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let mut bad = request(app.organization, "member.added");
    bad.organization_id = "acme".into();
    let status = app
        .events()
        .await
        .publish_event(authorized(bad, &crate::support::publisher_token()))
        .await
        .unwrap_err();
    assert_field_violation(&status, "organization_id");
}

async fn a_token_without_the_publish_scope_is_permission_denied_whatever_the_organization_id(
    backend: Backend,
) {
    let app = crate::support::spawn_app(backend).await;
    let mut bad = request(app.organization, "member.added");
    bad.organization_id = "acme".into();
    let status = app
        .events()
        .await
        .publish_event(authorized(bad, &app.token("OWNER")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

async fn nul_in_an_idempotency_key_is_invalid_argument(backend: Backend) {
    let app = crate::support::spawn_app(backend).await;
    let mut nul = request(app.organization, "member.added");
    nul.idempotency_key = "key\0".into();
    let status = app
        .events()
        .await
        .publish_event(authorized(nul, &crate::support::publisher_token()))
        .await
        .unwrap_err();
    assert_field_violation(&status, "idempotency_key");
}
