//! What reaches a receiver: who gets an event, and how it is signed.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, authorized, deliver_to, spawn_app_with};

on_every_backend!(
    an_event_reaches_the_subscribed_webhooks_of_its_organization_only,
    a_delivery_carries_the_documented_payload_and_headers,
    both_signatures_verify_with_the_secret_alone,
    a_new_webhook_receives_its_own_webhook_created,
    an_event_nobody_subscribed_to_is_stored_with_no_deliveries,
);

const WAIT: Duration = Duration::from_secs(10);

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

async fn an_event_reaches_the_subscribed_webhooks_of_its_organization_only(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/a"), &["member.added"]).await;
    app.subscribe(&receiver.url("/b"), &["invite.created", "member.added"])
        .await;
    app.subscribe(&receiver.url("/c"), &["invite.created"])
        .await;
    let other = uuid::Uuid::new_v4();
    let mut foreign = app.create_request(&receiver.url("/other-org"), &["member.added"]);
    foreign.organization_id = other.to_string();
    app.webhooks()
        .await
        .create_webhook(authorized(foreign, &app.token_for(other, "OWNER")))
        .await
        .unwrap();

    let published = app
        .publish("member.added", json!({"user": "u1"}), "")
        .await
        .unwrap();
    assert_eq!(published.deliveries_scheduled, 2);

    for path in ["/a", "/b"] {
        let got = receiver.wait_for(path, 1, WAIT).await;
        assert_eq!(got[0].json()["id"], published.event_id);
    }
    app.wait_until_settled(WAIT).await;
    assert!(receiver.received("/c").is_empty());
    assert!(receiver.received("/other-org").is_empty());
}

async fn a_delivery_carries_the_documented_payload_and_headers(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/hook"), &["member.added"])
        .await;
    let data = json!({"user": {"id": "u1", "email": "a@example.com"}, "count": 3, "ok": true});
    let published = app.publish("member.added", data.clone(), "").await.unwrap();

    let got = &receiver.wait_for("/hook", 1, WAIT).await[0];
    let body = got.json();
    assert_eq!(body["id"], published.event_id);
    assert_eq!(body["type"], "member.added");
    assert_eq!(body["organization_id"], app.organization.to_string());
    assert_eq!(body["data"], data);
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );
    assert!(
        !String::from_utf8_lossy(&got.body).contains(": "),
        "not compact"
    );

    assert_eq!(got.header("content-type"), "application/json");
    assert!(got.header("user-agent").starts_with("webhook-service/"));
    assert_eq!(got.header("x-webhook-id"), published.event_id);
    assert_eq!(got.header("webhook-id"), published.event_id);
    assert_eq!(got.header("x-webhook-event"), "member.added");
    assert_eq!(got.header("x-webhook-attempt"), "1");
    let sent_at: i64 = got.header("x-webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    assert_eq!(
        got.header("webhook-timestamp"),
        got.header("x-webhook-timestamp")
    );
}

async fn both_signatures_verify_with_the_secret_alone(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let secret = app
        .subscribe(&receiver.url("/signed"), &["invite.created"])
        .await
        .secret;
    app.publish("invite.created", json!({"invite": "i1"}), "")
        .await
        .unwrap();
    let got = &receiver.wait_for("/signed", 1, WAIT).await[0];

    let expected_hex = hex::encode(hmac(secret.as_bytes(), &[&got.body]));
    assert_eq!(
        got.header("x-webhook-signature"),
        format!("sha256={expected_hex}")
    );

    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = got.header("webhook-id");
    let timestamp = got.header("webhook-timestamp");
    let expected = STANDARD.encode(hmac(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", &got.body],
    ));
    let signatures: Vec<&str> = got.header("webhook-signature").split(' ').collect();
    assert!(
        signatures.contains(&format!("v1,{expected}").as_str()),
        "{signatures:?}"
    );
}

async fn a_new_webhook_receives_its_own_webhook_created(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let created = app
        .subscribe(&receiver.url("/self"), &["webhook.created"])
        .await;
    let webhook = created.webhook.unwrap();

    let got = &receiver.wait_for("/self", 1, WAIT).await[0];
    let body = got.json();
    assert_eq!(body["type"], "webhook.created");
    assert_eq!(body["data"]["id"], webhook.id);
    assert_eq!(body["data"]["url"], webhook.url);
    assert_eq!(body["data"]["events"], json!(["webhook.created"]));
    assert!(body["data"]["created_at"].is_string());
    let key = created.secret.strip_prefix("whsec_").unwrap();
    assert!(
        !String::from_utf8_lossy(&got.body).contains(key),
        "the secret leaked"
    );
}

async fn an_event_nobody_subscribed_to_is_stored_with_no_deliveries(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let published = app
        .publish("oauth_app.revoked", json!({}), "")
        .await
        .unwrap();
    assert_eq!(published.deliveries_scheduled, 0);
    let events = app.query("SELECT id FROM events").await;
    assert_eq!(events.len(), 1, "the event is stored");
    assert!(app.deliveries().await.is_empty());
}
