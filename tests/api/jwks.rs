//! Tokens from an identity provider: keys from its published JWK set,
//! picked by `kid`, refreshed on rotation, kept through an outage.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tonic::Code;

use crate::support::jwks::{JwksServer, TestKey, key_set};
use crate::support::receiver::{Receiver, Reply};
use crate::support::scrape::scrape;
use crate::support::{Backend, TestApp, claims, spawn_app_with, start_failure};
use webhook_service::auth::JwksUrl;

async fn assert_accepted(app: &TestApp, token: &str) {
    if let Err(status) = app.list_webhooks_as(token).await {
        panic!("refused: {status:?}");
    }
}

async fn assert_unauthenticated(app: &TestApp, token: &str) {
    let status = app.list_webhooks_as(token).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "invalid token");
}

/// Waits until `done` holds; panics after `limit`.
async fn eventually(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tokens_signed_with_each_kind_of_published_key_are_accepted() {
    let es256 = TestKey::es256("ec-256");
    let es384 = TestKey::es384("ec-384");
    let ed25519 = TestKey::ed25519("ed");
    let rsa = TestKey::rsa("rsa", Algorithm::RS256).without_alg();
    let server = JwksServer::start(&key_set(&[&es256, &es384, &ed25519, &rsa])).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = claims(app.organization, "OWNER");

    assert_accepted(&app, &es256.sign(&claims)).await;
    assert_accepted(&app, &es384.sign(&claims)).await;
    assert_accepted(&app, &ed25519.sign(&claims)).await;
    // An RSA key without `alg` takes every RSA algorithm, PKCS#1 and PSS.
    for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
        assert_accepted(&app, &rsa.sign_as(alg, Some("rsa"), &claims)).await;
    }
    assert_eq!(server.fetches(), 1, "one fetch at start-up, none per call");
}

#[tokio::test]
async fn a_rotated_key_is_accepted_without_a_restart_after_one_fetch() {
    let old = TestKey::es256("2026-01");
    let new = TestKey::ed25519("2026-02");
    let server = JwksServer::start(&key_set(&[&old])).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = claims(app.organization, "ADMIN");
    assert_accepted(&app, &old.sign(&claims)).await;
    assert_eq!(server.fetches(), 1);

    server.publish(&key_set(&[&new]));
    assert_accepted(&app, &new.sign(&claims)).await;
    assert_eq!(server.fetches(), 2, "the unknown kid fetched the set once");
    assert_accepted(&app, &new.sign(&claims)).await;
    // The retired key is gone with the old set.
    assert_unauthenticated(&app, &old.sign(&claims)).await;
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_token_accepted_before_its_key_was_withdrawn_is_refused_once_the_set_is_fetched_again() {
    let old = TestKey::es256("2026-01");
    let new = TestKey::es256("2026-02");
    let server = JwksServer::start(&key_set(&[&old])).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = claims(app.organization, "ADMIN");
    // The same token on every call, as a service sends it: kept once checked.
    let token = old.sign(&claims);
    assert_accepted(&app, &token).await;
    assert_accepted(&app, &token).await;

    server.publish(&key_set(&[&new]));
    assert_accepted(&app, &new.sign(&claims)).await;
    assert_eq!(server.fetches(), 2, "the new kid fetched the set");
    assert_unauthenticated(&app, &token).await;
}

#[tokio::test]
async fn unknown_kids_are_unauthenticated_and_fetch_the_set_at_most_once_per_interval() {
    let known = TestKey::es256("known");
    let server = JwksServer::start(&key_set(&[&known])).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = claims(app.organization, "OWNER");
    let stranger = TestKey::es256("stranger");

    // A burst of made-up kids at once: one fetch, not one per call.
    let calls = (0..12).map(|i| {
        let token = stranger.sign_as(Algorithm::ES256, Some(&format!("made-up-{i}")), &claims);
        let app = &app;
        async move { app.list_webhooks_as(&token).await }
    });
    for outcome in futures_util::future::join_all(calls).await {
        assert_eq!(outcome.unwrap_err().code(), Code::Unauthenticated);
    }
    assert_eq!(server.fetches(), 2);

    // Within the next 30 s, a new unknown kid fetches nothing more.
    assert_unauthenticated(&app, &stranger.sign(&claims)).await;
    assert_eq!(server.fetches(), 2);
    assert_accepted(&app, &known.sign(&claims)).await;
}

#[tokio::test]
async fn a_token_whose_alg_differs_from_its_jwk_alg_is_unauthenticated() {
    let rsa = TestKey::rsa("rsa", Algorithm::RS256);
    let server = JwksServer::start(&key_set(&[&rsa])).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = claims(app.organization, "OWNER");

    assert_accepted(&app, &rsa.sign(&claims)).await;
    // Signed with the very key, but as PS256 while the JWK says RS256.
    assert_unauthenticated(&app, &rsa.sign_as(Algorithm::PS256, Some("rsa"), &claims)).await;
    assert_unauthenticated(&app, &rsa.sign_as(Algorithm::RS512, Some("rsa"), &claims)).await;
    assert_eq!(server.fetches(), 1, "a known kid never fetches");
}

#[tokio::test]
async fn hmac_and_alg_none_tokens_are_unauthenticated_with_a_key_set() {
    let ec = TestKey::es256("ec");
    let mut set = key_set(&[&ec]);
    // A symmetric key in a published set must never be trusted.
    set["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "oct", "kid": "shared", "k": URL_SAFE_NO_PAD.encode(b"secret")}));
    let server = JwksServer::start(&set).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = claims(app.organization, "OWNER");

    let hmac = |kid: &str, secret: &[u8]| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    };
    assert_unauthenticated(&app, &hmac("shared", b"secret")).await;
    // HS/ES confusion: an HMAC keyed with the public key's JWK text.
    assert_unauthenticated(&app, &hmac("ec", ec.jwk.to_string().as_bytes())).await;

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"ec"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_unauthenticated(&app, &format!("{header}.{body}.")).await;
    assert_accepted(&app, &ec.sign(&claims)).await;
}

#[tokio::test]
async fn a_token_without_kid_is_accepted_only_when_the_set_holds_a_single_key() {
    let only = TestKey::ed25519("only");
    let server = JwksServer::start(&key_set(&[&only])).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = claims(app.organization, "OWNER");
    assert_accepted(&app, &only.sign_as(Algorithm::EdDSA, None, &claims)).await;

    let second = TestKey::es256("second");
    let server = JwksServer::start(&key_set(&[&only, &second])).await;
    let app = spawn_app_with(Backend::Sqlite, server.trusted()).await;
    let claims = crate::support::claims(app.organization, "OWNER");
    assert_unauthenticated(&app, &only.sign_as(Algorithm::EdDSA, None, &claims)).await;
    assert_accepted(&app, &only.sign(&claims)).await;
}

#[tokio::test]
async fn when_the_provider_is_down_the_last_good_keys_keep_working_and_failures_are_counted() {
    let key = TestKey::es256("steady");
    let server = JwksServer::start(&key_set(&[&key])).await;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        server.trusted()(s);
        s.jwt_jwks_refresh = Duration::from_millis(100);
    })
    .await;
    let claims = claims(app.organization, "OWNER");
    let stats = app.jwks_stats.clone().expect("JWKS in use");
    assert_eq!(stats.refresh_failures(), 0);

    server.stop().await;
    eventually(Duration::from_secs(10), "a failed refresh", || {
        stats.refresh_failures() >= 2
    })
    .await;
    assert_accepted(&app, &key.sign(&claims)).await;
    assert_eq!(stats.refreshes(), 1, "only the start-up fetch succeeded");
    // The same counts, as Prometheus reads them.
    let metrics = scrape(app.metrics_address.expect("metrics served")).await;
    let refreshes = |result| metrics.value("webhook_jwks_refreshes_total", &[("result", result)]);
    assert_eq!(refreshes("success"), Some(1.0));
    assert!(
        refreshes("failure").is_some_and(|n| n >= 2.0),
        "{metrics:?}"
    );
}

#[tokio::test]
async fn a_key_published_later_is_picked_up_by_the_background_refresh() {
    let first = TestKey::es256("first");
    let later = TestKey::es256("later");
    let server = JwksServer::start(&key_set(&[&first])).await;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        server.trusted()(s);
        s.jwt_jwks_refresh = Duration::from_secs(3);
    })
    .await;
    let claims = claims(app.organization, "OWNER");
    // Spend the on-demand fetch: for 30 s, unknown kids fetch nothing.
    assert_unauthenticated(&app, &later.sign(&claims)).await;
    assert_eq!(server.fetches(), 2);

    server.publish(&key_set(&[&first, &later]));
    assert_unauthenticated(&app, &later.sign(&claims)).await;
    eventually(Duration::from_secs(10), "a background refresh", || {
        server.fetches() >= 3
    })
    .await;
    assert_accepted(&app, &later.sign(&claims)).await;
}

#[tokio::test]
async fn a_key_set_served_over_https_by_a_private_ca_is_trusted_with_jwt_jwks_ca_file() {
    let key = TestKey::es256("tls");
    let receiver = Receiver::start().await;
    receiver.always_reply(
        "/jwks",
        Reply::status(200).body(key_set(&[&key]).to_string()),
    );
    let url = format!("https://localhost:{}/jwks", receiver.port);

    let untrusted = start_failure(|s| {
        s.jwt_secret = None;
        s.jwt_jwks_url = Some(JwksUrl::parse(&url).unwrap());
    })
    .await;
    assert!(untrusted.contains("JWT_JWKS_URL"), "{untrusted}");

    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.jwt_secret = None;
        s.jwt_jwks_url = Some(JwksUrl::parse(&url).unwrap());
        s.jwt_jwks_ca_file = Some(receiver.ca_file.clone());
    })
    .await;
    assert_accepted(&app, &key.sign(&claims(app.organization, "OWNER"))).await;
}

#[tokio::test]
async fn a_key_set_that_cannot_be_loaded_stops_the_start_and_says_why() {
    let server = JwksServer::start(&json!({})).await;
    let failure = |body: &'static [u8]| {
        server.publish_body(body);
        start_failure(server.trusted())
    };
    let not_json = failure(b"<html>login</html>").await;
    assert!(
        not_json.contains("JWT_JWKS_URL") && not_json.contains("not JSON"),
        "{not_json}"
    );
    let not_a_set = failure(br#"{"issuer": "https://id.example.com"}"#).await;
    assert!(not_a_set.contains("not a JWK set"), "{not_a_set}");
    let unusable = failure(br#"{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}"#).await;
    assert!(unusable.contains("no usable signing key"), "{unusable}");

    server.publish_body(vec![b' '; 1024 * 1024 + 1]);
    let too_big = start_failure(server.trusted()).await;
    assert!(too_big.contains("more than 1048576 bytes"), "{too_big}");

    server.stop().await;
    let down = start_failure(server.trusted()).await;
    assert!(
        down.contains("JWT_JWKS_URL") && down.contains("cannot fetch"),
        "{down}"
    );
}
