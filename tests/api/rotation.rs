//! Replacing a webhook's signing secret.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{
    Backend, TestApp, authorized, deliver_to, legacy_signature, signature_entries, spawn_app_with,
    standard_signature, time,
};
use webhook_service::grpc::proto::RotateWebhookSecretRequest;

on_every_backend!(
    after_rotation_deliveries_are_signed_with_both_secrets_during_the_grace_period,
    after_the_grace_period_only_the_new_secret_signs,
    each_rotation_s_previous_secret_signs_for_its_whole_grace,
);

const WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn rotate(
    app: &TestApp,
    webhook_id: &str,
) -> webhook_service::grpc::proto::RotateWebhookSecretResponse {
    let request = RotateWebhookSecretRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook_id.to_owned(),
    };
    app.webhooks()
        .await
        .rotate_webhook_secret(authorized(request, &app.token("OWNER")))
        .await
        .expect("rotate")
        .into_inner()
}

async fn after_rotation_deliveries_are_signed_with_both_secrets_during_the_grace_period(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let created = app
        .subscribe(&receiver.url("/rotated"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();
    let old = created.secret;

    let rotated = rotate(&app, &webhook.id).await;
    let new = rotated.secret.clone();
    assert_ne!(new, old);
    let key = new.strip_prefix("whsec_").expect("whsec_ prefix");
    assert_eq!(STANDARD.decode(key).expect("base64").len(), 32);
    assert_eq!(rotated.webhook.as_ref().unwrap().id, webhook.id);
    let expires = time(&rotated.previous_secret_expires_at);
    let ahead = expires - chrono::Utc::now();
    assert!(
        (ahead - chrono::Duration::hours(24)).abs() < chrono::Duration::minutes(1),
        "the old secret expires in {ahead:?}"
    );
    assert!(
        !format!("{:?}", app.get_webhook(&webhook.id).await.unwrap()).contains(key),
        "GetWebhook shows the secret"
    );

    app.publish("member.added", json!({"after": "rotation"}), "")
        .await
        .unwrap();
    let got = &receiver.wait_for("/rotated", 1, WAIT).await[0];
    let mut entries = signature_entries(got);
    entries.sort();
    let mut expected = vec![standard_signature(&new, got), standard_signature(&old, got)];
    expected.sort();
    assert_eq!(entries, expected, "one signature per secret");
    assert_eq!(
        got.header("x-webhook-signature"),
        legacy_signature(&new, got)
    );
}

async fn after_the_grace_period_only_the_new_secret_signs(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.secret_grace = Duration::from_millis(300);
    })
    .await;
    let created = app
        .subscribe(&receiver.url("/graced"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();
    let old = created.secret;

    let rotated = rotate(&app, &webhook.id).await;
    let ahead = time(&rotated.previous_secret_expires_at) - chrono::Utc::now();
    assert!(
        ahead <= chrono::Duration::seconds(1) && ahead > chrono::Duration::seconds(-5),
        "the old secret expires in {ahead:?}"
    );
    // Until the grace the service announced is over, on this clock (the
    // service runs in this process).
    let expires = time(&rotated.previous_secret_expires_at);
    let deadline = std::time::Instant::now() + WAIT;
    while chrono::Utc::now() <= expires {
        assert!(
            std::time::Instant::now() < deadline,
            "the grace never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    app.publish("member.added", json!({}), "").await.unwrap();
    let got = &receiver.wait_for("/graced", 1, WAIT).await[0];
    assert_eq!(
        signature_entries(got),
        [standard_signature(&rotated.secret, got)]
    );
    assert_ne!(rotated.secret, old);
    assert_eq!(
        got.header("x-webhook-signature"),
        legacy_signature(&rotated.secret, got)
    );
}

async fn each_rotation_s_previous_secret_signs_for_its_whole_grace(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let created = app
        .subscribe(&receiver.url("/twice"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();
    let first = rotate(&app, &webhook.id).await.secret;
    let second = rotate(&app, &webhook.id).await.secret;

    app.publish("member.added", json!({}), "").await.unwrap();
    let got = &receiver.wait_for("/twice", 1, WAIT).await[0];
    assert_eq!(
        signature_entries(got),
        [
            standard_signature(&second, got),
            standard_signature(&first, got),
            standard_signature(&created.secret, got),
        ],
        "newest first, the original still in its grace"
    );
}
