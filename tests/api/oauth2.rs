//! OAuth2 client credentials toward endpoints: a real token server issues
//! short-lived tokens, a real receiver answers 401 to anything but a live
//! one, and the service gets, shares, refreshes and re-asks tokens as it
//! must. The write side is in `oauth2_settings`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use webhook_service::grpc::proto::{Delivery, OAuth2ClientCredentials, Webhook};

use crate::on_every_backend;
use crate::support::oauth2::{CLIENT_ID, CLIENT_SECRET, TokenServer};
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, deliver_to, spawn_app_with};

on_every_backend!(
    deliveries_at_once_share_one_token_sent_as_a_bearer_header,
    an_expired_token_is_replaced_by_a_new_one,
    a_refused_token_is_replaced_once_and_the_same_attempt_succeeds,
    a_failing_token_server_fails_attempts_as_oauth2_until_it_is_back,
);

pub(crate) const WAIT: Duration = Duration::from_secs(20);
pub(crate) const PATH: &str = "/hook";

pub(crate) fn credentials(token_url: &str) -> OAuth2ClientCredentials {
    OAuth2ClientCredentials {
        token_url: token_url.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
        scopes: vec!["hooks:write".into(), "audit".into()],
        audience: "https://hooks.example.com".into(),
    }
}

/// A service delivering to `receiver` and trusting `tokens` too; the
/// receiver's PATH demands a live token of `tokens`.
pub(crate) async fn app_for(
    backend: Backend,
    receiver: &Receiver,
    tokens: &TokenServer,
) -> TestApp {
    receiver.gate(PATH, tokens.gate());
    let roots = tokens.ca_file_with(&receiver.ca_file);
    spawn_app_with(backend, |s| {
        deliver_to(receiver)(s);
        s.ca_file = Some(roots);
    })
    .await
}

async fn subscribe_with_oauth2(
    app: &TestApp,
    receiver: &Receiver,
    tokens: &TokenServer,
) -> Webhook {
    let mut request = app.create_request(&receiver.url(PATH), &["member.added"]);
    request.oauth2 = Some(credentials(&tokens.url()));
    app.create_webhook(request).await.unwrap().webhook.unwrap()
}

fn bearer(received: &crate::support::receiver::Received) -> String {
    received.header("authorization").to_owned()
}

/// The delivery of `event_id`, once it is no longer pending.
async fn settled(app: &TestApp, webhook: &Webhook, event_id: &str) -> Delivery {
    let listed = app.deliveries_of(&webhook.id).await;
    let delivery = listed
        .iter()
        .find(|d| d.event_id == event_id)
        .unwrap_or_else(|| panic!("no delivery of {event_id}"));
    app.wait_for_delivery(&delivery.id, WAIT, |d| {
        d.status().as_str_name() != "DELIVERY_STATUS_PENDING"
    })
    .await
}

async fn deliveries_at_once_share_one_token_sent_as_a_bearer_header(backend: Backend) {
    let receiver = Receiver::start().await;
    // Long-lived here: one token must serve them all, however slow the run.
    let tokens = TokenServer::issuing_for(Duration::from_secs(300)).await;
    let app = app_for(backend, &receiver, &tokens).await;
    subscribe_with_oauth2(&app, &receiver, &tokens).await;
    // The first token request is held: the attempts that start meanwhile
    // all wait for it.
    tokens.hold();
    for _ in 0..20 {
        app.publish("member.added", json!({}), "").await.unwrap();
    }
    let waiting = app.until(|a| a.in_flight >= 8, WAIT).await;
    assert_eq!(tokens.arrived(), 1, "{waiting:?}");
    tokens.release();
    let got = receiver.wait_for(PATH, 20, WAIT).await;
    assert!(got.iter().all(|r| r.status == 200), "{:?}", statuses(&got));
    assert!(got.iter().all(|r| bearer(r) == "Bearer tok-1"));
    let asked = tokens.requests();
    assert_eq!(asked.len(), 1, "one token request for 20 deliveries");
    let form = &asked[0].form;
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "hooks:write audit");
    assert_eq!(form["audience"], "https://hooks.example.com");
    assert!(!form.contains_key("client_secret"), "sent as Basic only");
}

pub(crate) fn statuses(got: &[crate::support::receiver::Received]) -> Vec<u16> {
    got.iter().map(|r| r.status).collect()
}

async fn an_expired_token_is_replaced_by_a_new_one(backend: Backend) {
    let receiver = Receiver::start().await;
    let tokens = TokenServer::start().await; // tokens live 2 s
    let app = app_for(backend, &receiver, &tokens).await;
    subscribe_with_oauth2(&app, &receiver, &tokens).await;
    let deadline = Instant::now() + WAIT;
    let mut sent = 0;
    // Publish one at a time until a delivery carries the second token.
    loop {
        app.publish("member.added", json!({}), "").await.unwrap();
        sent += 1;
        let got = receiver.wait_for(PATH, sent, WAIT).await;
        let accepted: Vec<_> = got.iter().filter(|r| r.status == 200).collect();
        if accepted.iter().any(|r| bearer(r) == "Bearer tok-2") {
            assert_eq!(bearer(accepted[0]), "Bearer tok-1");
            break;
        }
        assert!(Instant::now() < deadline, "no second token: {sent} sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Asked again at 90% of its life, not after the endpoint refused it.
    let all = receiver.received(PATH);
    assert!(all.iter().all(|r| r.status == 200), "{:?}", statuses(&all));
    let seen: BTreeSet<String> = receiver.received(PATH).iter().map(bearer).collect();
    assert_eq!(
        tokens.requests().len(),
        seen.len(),
        "one request per token: {seen:?}"
    );
}

async fn a_refused_token_is_replaced_once_and_the_same_attempt_succeeds(backend: Backend) {
    let receiver = Receiver::start().await;
    let tokens = TokenServer::issuing_for(Duration::from_secs(300)).await;
    let app = app_for(backend, &receiver, &tokens).await;
    let webhook = subscribe_with_oauth2(&app, &receiver, &tokens).await;
    app.publish("member.added", json!({}), "").await.unwrap();
    let first = receiver.wait_for(PATH, 1, WAIT).await;
    assert_eq!(bearer(&first[0]), "Bearer tok-1");

    // The endpoint's authorization server revoked it before its time.
    tokens.revoke("tok-1");
    let published = app.publish("member.added", json!({}), "").await.unwrap();
    let got = receiver.wait_for(PATH, 3, WAIT).await;
    assert_eq!(statuses(&got), [200, 401, 200]);
    assert_eq!(bearer(&got[1]), "Bearer tok-1");
    assert_eq!(bearer(&got[2]), "Bearer tok-2");
    assert_eq!(got[1].header("webhook-id"), got[2].header("webhook-id"));
    let delivery = settled(&app, &webhook, &published.event_id).await;
    assert_eq!(delivery.attempts.len(), 1, "{:?}", delivery.attempts);
    assert_eq!(delivery.attempts[0].status_code, Some(200));
    assert_eq!(tokens.requests().len(), 2);
}

async fn a_failing_token_server_fails_attempts_as_oauth2_until_it_is_back(backend: Backend) {
    let receiver = Receiver::start().await;
    let tokens = TokenServer::issuing_for(Duration::from_secs(300)).await;
    let app = app_for(backend, &receiver, &tokens).await;
    let webhook = subscribe_with_oauth2(&app, &receiver, &tokens).await;
    tokens.fail_next(2, 500);
    let published = app.publish("member.added", json!({}), "").await.unwrap();
    let delivery = settled(&app, &webhook, &published.event_id).await;

    assert_eq!(delivery.status().as_str_name(), "DELIVERY_STATUS_SUCCEEDED");
    let attempts = &delivery.attempts;
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    for failed in &attempts[..2] {
        assert_eq!(failed.error_kind, "oauth2", "{failed:?}");
        assert_eq!(failed.status_code, None, "the endpoint was not called");
        let message = &failed.error_message;
        assert!(
            message.contains("127.0.0.1") && message.contains("500"),
            "{message}"
        );
        assert!(!message.contains(CLIENT_SECRET), "{message}");
    }
    assert_eq!(attempts[2].status_code, Some(200));
    assert_eq!(tokens.requests().len(), 3);
    let got = receiver.received(PATH);
    assert_eq!(statuses(&got), [200]);
    assert_eq!(bearer(&got[0]), "Bearer tok-1");
}
