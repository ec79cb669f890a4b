//! SendTestEvent: a ping through the normal delivery path.

use std::time::Duration;

use tonic::Code;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{
    Backend, TestApp, authorized, deliver_to, legacy_signature, signature_entries, spawn_app_with,
    standard_signature,
};
use webhook_service::grpc::proto::{DeliveryStatus, SendTestEventRequest, SendTestEventResponse};

on_every_backend!(
    a_test_event_reaches_a_webhook_that_did_not_subscribe_to_it,
    a_test_event_to_a_paused_webhook_is_failed_precondition,
);

const WAIT: Duration = Duration::from_secs(10);

async fn send_test_event(
    app: &TestApp,
    webhook_id: &str,
) -> Result<SendTestEventResponse, tonic::Status> {
    let request = SendTestEventRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook_id.to_owned(),
    };
    app.webhooks()
        .await
        .send_test_event(authorized(request, &app.token("OWNER")))
        .await
        .map(|r| r.into_inner())
}

async fn a_test_event_reaches_a_webhook_that_did_not_subscribe_to_it(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let created = app
        .subscribe(&receiver.url("/ping"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();

    let sent = send_test_event(&app, &webhook.id).await.expect("ping");
    let got = &receiver.wait_for("/ping", 1, WAIT).await[0];
    let body = got.json();
    assert_eq!(body["type"], "webhook.ping");
    assert_eq!(body["id"], sent.event_id);
    assert_eq!(body["organization_id"], app.organization.to_string());
    assert_eq!(got.header("x-webhook-event"), "webhook.ping");
    assert_eq!(got.header("x-webhook-id"), sent.event_id);
    assert_eq!(
        got.header("x-webhook-signature"),
        legacy_signature(&created.secret, got)
    );
    assert_eq!(
        signature_entries(got),
        [standard_signature(&created.secret, got)]
    );

    let delivery = app
        .wait_for_delivery(&sent.delivery_id, WAIT, |d| {
            d.status() != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(delivery.status(), DeliveryStatus::Succeeded);
    assert_eq!(delivery.event_id, sent.event_id);
    assert_eq!(delivery.event_type, "webhook.ping");
    assert_eq!(delivery.webhook_id, webhook.id);
    assert_eq!(delivery.attempt_count, 1);
    assert_eq!(delivery.attempts.len(), 1);

    let status = send_test_event(&app, &Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

async fn a_test_event_to_a_paused_webhook_is_failed_precondition(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/paused-ping"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.set_enabled(&webhook.id, false).await;

    let status = send_test_event(&app, &webhook.id).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("the webhook is paused; resume it first"),
        "{status:?}"
    );
    assert!(app.deliveries_of(&webhook.id).await.is_empty());

    // Enabled again, it pings.
    app.set_enabled(&webhook.id, true).await;
    send_test_event(&app, &webhook.id).await.expect("ping");
    let got = receiver.wait_for("/paused-ping", 1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "webhook.ping");
}
