//! Client certificates (mutual TLS) toward endpoints: a receiver that
//! demands one accepts the webhook presenting it and refuses another on the
//! same host; reads show the certificate, never its key, which is sealed at
//! rest; bad certificates are refused on their field.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use rcgen::{CertificateParams, DnType, KeyPair};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use webhook_service::grpc::proto::{
    ClientCertificate, Delivery, DeliveryStatus, UpdateWebhookRequest,
};

use crate::on_every_backend;
use crate::support::catalogue::violations;
use crate::support::pki::{Ca, Leaf};
use crate::support::receiver::Receiver;
use crate::support::{Backend, deliver_to, spawn_app, spawn_app_with};

on_every_backend!(
    a_receiver_demanding_a_client_certificate_takes_the_webhook_presenting_it_and_refuses_the_other,
    get_webhook_shows_the_certificate_never_its_key_which_is_sealed_at_rest,
    a_key_that_cannot_be_opened_keeps_the_deliveries_waiting_until_the_webhook_gets_one_again,
    a_certificate_travels_over_rest_and_its_refusal_names_the_nested_field,
    garbage_a_key_of_another_a_missing_key_and_an_expired_leaf_are_refused_on_their_field,
);

const WAIT: Duration = Duration::from_secs(15);
const CHAIN: &str = "client_certificate.certificate_chain_pem";
const KEY: &str = "client_certificate.private_key_pem";

fn presenting(leaf: &Leaf) -> Option<ClientCertificate> {
    Some(ClientCertificate {
        certificate_chain_pem: leaf.certificate_pem(),
        private_key_pem: leaf.key_pem(),
    })
}

fn mask(path: &str) -> Option<pbjson_types::FieldMask> {
    Some(pbjson_types::FieldMask {
        paths: vec![path.to_owned()],
    })
}

/// The base64 body of a PEM key: what would show if it were stored in clear.
fn key_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

async fn a_receiver_demanding_a_client_certificate_takes_the_webhook_presenting_it_and_refuses_the_other(
    backend: Backend,
) {
    let client_ca = Ca::new("receiver's client CA");
    let receiver = Receiver::requiring_client_certificates(&client_ca).await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let first = client_ca.client("first.webhook-service.test");
    let second = client_ca.client("second.webhook-service.test");

    let mut with = app.create_request(&receiver.url("/with"), &["member.added"]);
    with.client_certificate = presenting(&first);
    let with = app.create_webhook(with).await.unwrap().webhook.unwrap();
    // Same host and port; retried every 300ms for long enough to see the
    // update below take effect on a retry.
    let mut without = app.create_request(&receiver.url("/without"), &["member.added"]);
    without.retry_schedule = vec![
        pbjson_types::Duration {
            seconds: 0,
            nanos: 300_000_000,
        };
        20
    ];
    let without = app.create_webhook(without).await.unwrap().webhook.unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();

    receiver.wait_for("/with", 1, WAIT).await;
    let delivered = app.deliveries_of(&with.id).await;
    let delivered = app
        .wait_for_delivery(&delivered[0].id, WAIT, |d| {
            d.status() == DeliveryStatus::Succeeded
        })
        .await;
    assert_eq!(delivered.attempts.len(), 1, "{delivered:?}");

    // Refused in the handshake, so the receiver never saw a request; the
    // attempt's error says why, and the delivery stays pending for a retry.
    let refused = app.deliveries_of(&without.id).await;
    let refused = app
        .wait_for_delivery(&refused[0].id, WAIT, |d| d.attempts.len() >= 2)
        .await;
    assert_refused_in_the_handshake(&refused);
    assert!(receiver.received("/without").is_empty());

    // Its own identity from the next attempt on.
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: without.id.clone(),
        client_certificate: presenting(&second),
        update_mask: mask("client_certificate"),
        ..Default::default()
    })
    .await
    .unwrap();
    receiver.wait_for("/without", 1, WAIT).await;
    let done = app
        .wait_for_delivery(&refused.id, WAIT, |d| {
            d.status() == DeliveryStatus::Succeeded
        })
        .await;
    assert!(done.attempts.len() >= 3, "{done:?}");
    let last = done.attempts.last().unwrap();
    assert_eq!(last.status_code, Some(200), "{last:?}");
}

fn assert_refused_in_the_handshake(delivery: &Delivery) {
    assert_eq!(delivery.status(), DeliveryStatus::Pending, "{delivery:?}");
    for attempt in &delivery.attempts {
        assert_eq!(attempt.status_code, None, "{attempt:?}");
        assert!(!attempt.error_kind.is_empty(), "{attempt:?}");
        // The receiver's alert, as rustls names it.
        assert!(
            attempt.error_message.contains("alert: CertificateRequired"),
            "{attempt:?}"
        );
    }
}

async fn get_webhook_shows_the_certificate_never_its_key_which_is_sealed_at_rest(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.encryption_key = Some(STANDARD.encode([9u8; 32]).into());
    })
    .await;
    let client_ca = Ca::new("receiver's client CA");
    let leaf = client_ca.client("orders.webhook-service.test");
    let mut request = app.create_request("https://hooks.example.com/mtls", &["member.added"]);
    request.client_certificate = presenting(&leaf);
    let created = app.create_webhook(request).await.unwrap();
    let webhook = created.webhook.clone().unwrap();

    let read = app.get_webhook(&webhook.id).await.unwrap();
    let info = read.client_certificate.clone().expect("certificate info");
    assert!(
        info.subject.contains("CN=orders.webhook-service.test"),
        "{info:?}"
    );
    assert!(info.issuer.contains("CN=receiver's client CA"), "{info:?}");
    assert_eq!(
        info.sha256_fingerprint,
        hex::encode(Sha256::digest(leaf.certificate_der().as_ref()))
    );
    let not_before = info.not_before.unwrap().seconds;
    let not_after = info.not_after.unwrap().seconds;
    assert!(not_before < chrono::Utc::now().timestamp(), "{info:?}");
    assert!(not_after > chrono::Utc::now().timestamp(), "{info:?}");
    assert_eq!(webhook.client_certificate, read.client_certificate);
    let key = key_body(&leaf.key_pem());
    for shown in [format!("{created:?}"), format!("{read:?}")] {
        assert!(!shown.contains(&key), "the key is returned");
        assert!(!shown.contains("PRIVATE KEY"), "the key is returned");
    }

    let rows = app
        .query("SELECT client_certificate_chain, client_certificate_key FROM webhooks")
        .await;
    let chain: String = rows[0].try_get("", "client_certificate_chain").unwrap();
    let sealed: String = rows[0].try_get("", "client_certificate_key").unwrap();
    assert_eq!(chain, leaf.certificate_pem());
    assert!(!sealed.contains(&key), "the key is stored in clear");
    assert!(
        !sealed.contains("PRIVATE KEY"),
        "the key is stored in clear"
    );

    // Unset under its mask: removed.
    let removed = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: webhook.id.clone(),
            update_mask: mask("client_certificate"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(removed.client_certificate, None);
    assert_eq!(
        app.get_webhook(&webhook.id)
            .await
            .unwrap()
            .client_certificate,
        None
    );
    let rows = app
        .query("SELECT client_certificate_chain, client_certificate_key FROM webhooks")
        .await;
    let chain: Option<String> = rows[0].try_get("", "client_certificate_chain").unwrap();
    let sealed: Option<String> = rows[0].try_get("", "client_certificate_key").unwrap();
    assert_eq!((chain, sealed), (None, None));
}

async fn a_key_that_cannot_be_opened_keeps_the_deliveries_waiting_until_the_webhook_gets_one_again(
    backend: Backend,
) {
    let client_ca = Ca::new("receiver's client CA");
    let receiver = Receiver::requiring_client_certificates(&client_ca).await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.encryption_key = Some(STANDARD.encode([9u8; 32]).into());
        // A claim that cannot be sent keeps its lease: this short one lets
        // the delivery be claimed again soon after the repair.
        s.lease = Some(Duration::from_secs(4));
    })
    .await;
    let leaf = client_ca.client("orders.webhook-service.test");
    let mut created = Vec::new();
    for path in ["/sealed", "/fine"] {
        let mut request = app.create_request(&receiver.url(path), &["member.added"]);
        request.client_certificate = presenting(&leaf);
        created.push(app.create_webhook(request).await.unwrap().webhook.unwrap());
    }
    // As if sealed with another encryption key: it does not open.
    let broken = Query::update()
        .table(Alias::new("webhooks"))
        .value(
            Alias::new("client_certificate_key"),
            format!("xc20p1:{}", STANDARD.encode([7u8; 64])),
        )
        .and_where(Expr::col(Alias::new("id")).eq(Uuid::parse_str(&created[0].id).unwrap()))
        .to_owned();
    assert_eq!(app.execute(&broken).await, 1);
    app.publish("member.added", json!({}), "").await.unwrap();

    // The other webhook's delivery, claimed with it, went out and was recorded.
    receiver.wait_for("/fine", 1, WAIT).await;
    let fine = app.deliveries_of(&created[1].id).await;
    app.wait_for_delivery(&fine[0].id, WAIT, |d| {
        d.status() == DeliveryStatus::Succeeded
    })
    .await;
    // Not sent without its certificate, nor counted as the endpoint's failure.
    let waiting = app.deliveries_of(&created[0].id).await;
    let waiting = app.get_delivery(&waiting[0].id).await.unwrap();
    assert_eq!(waiting.status(), DeliveryStatus::Pending, "{waiting:?}");
    assert!(waiting.attempts.is_empty(), "{waiting:?}");
    assert!(receiver.received("/sealed").is_empty());

    // Given its certificate again, it goes out once its lease is over.
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: created[0].id.clone(),
        client_certificate: presenting(&leaf),
        update_mask: mask("client_certificate"),
        ..Default::default()
    })
    .await
    .unwrap();
    receiver.wait_for("/sealed", 1, WAIT).await;
}

/// A certificate of `client_ca`'s subject that expired in 2021, with its key.
fn expired() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["old.webhook-service.test".into()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "old.webhook-service.test");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

async fn garbage_a_key_of_another_a_missing_key_and_an_expired_leaf_are_refused_on_their_field(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let ca = Ca::new("receiver's client CA");
    let leaf = ca.client("a.webhook-service.test");
    let other = ca.client("b.webhook-service.test");
    let (old, old_key) = expired();
    let cases = [
        (
            "garbage".to_owned(),
            leaf.key_pem(),
            CHAIN,
            "PEM certificate",
        ),
        (
            leaf.certificate_pem(),
            other.key_pem(),
            KEY,
            "not the private key",
        ),
        (
            leaf.certificate_pem(),
            String::new(),
            KEY,
            "no PEM private key",
        ),
        (
            leaf.certificate_pem(),
            leaf.certificate_pem(),
            KEY,
            "no PEM private key",
        ),
        (old, old_key, CHAIN, "expired"),
    ];
    for (chain, key, field, says) in cases {
        let certificate = Some(ClientCertificate {
            certificate_chain_pem: chain,
            private_key_pem: key,
        });
        let mut request = app.create_request("https://hooks.example.com/bad", &["member.added"]);
        request.client_certificate = certificate.clone();
        let status = app.create_webhook(request).await.unwrap_err();
        let refused = violations(&status);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, field, "{refused:?}");
        assert!(refused[0].1.contains(says), "{refused:?}");
        assert!(!refused[0].1.contains("PRIVATE KEY"), "{refused:?}");

        // UpdateWebhook checks it the same way.
        let webhook = app
            .subscribe("https://hooks.example.com/good", &["member.added"])
            .await
            .webhook
            .unwrap();
        let status = app
            .update_webhook(UpdateWebhookRequest {
                webhook_id: webhook.id.clone(),
                client_certificate: certificate,
                update_mask: mask("client_certificate"),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violations(&status)[0].0, field);
        app.delete_webhook(&webhook.id).await.unwrap();
    }
}

async fn a_certificate_travels_over_rest_and_its_refusal_names_the_nested_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let leaf = Ca::new("receiver's client CA").client("rest.webhook-service.test");
    let body = json!({
        "url": "https://hooks.example.com/rest-mtls",
        "events": ["member.added"],
        "clientCertificate": {
            "certificateChainPem": leaf.certificate_pem(),
            "privateKeyPem": leaf.key_pem(),
        },
    });
    let answer = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let shown = &answer.body["webhook"]["clientCertificate"];
    assert_eq!(shown["subject"], "CN=rest.webhook-service.test", "{shown}");
    assert!(shown["notAfter"].is_string(), "{shown}");
    assert!(
        !answer.body.to_string().contains("PRIVATE KEY"),
        "{answer:?}"
    );

    let body = json!({
        "url": "https://hooks.example.com/rest-mtls-bad",
        "events": ["member.added"],
        "clientCertificate": {"certificateChainPem": leaf.certificate_pem()},
    });
    let refused = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let fields: Vec<String> = refused.violations().into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["clientCertificate.privateKeyPem"]);
}
