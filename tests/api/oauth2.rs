//! OAuth2 client credentials toward endpoints: a real token server issues
//! short-lived tokens, a real receiver answers 401 to anything but a live
//! one, and the service gets, shares, refreshes and re-asks tokens as it
//! must. Plus the write side: validation, read-back without the secret,
//! the secret sealed at rest.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;
use webhook_service::grpc::proto::{
    CreateWebhookRequest, Delivery, OAuth2ClientCredentials, UpdateWebhookRequest, Webhook,
};

use crate::on_every_backend;
use crate::support::catalogue::violations;
use crate::support::oauth2::{CLIENT_ID, CLIENT_SECRET, TokenServer};
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, deliver_to, spawn_app, spawn_app_with};

on_every_backend!(
    deliveries_at_once_share_one_token_sent_as_a_bearer_header,
    an_expired_token_is_replaced_by_a_new_one,
    a_refused_token_is_replaced_once_and_the_same_attempt_succeeds,
    a_failing_token_server_fails_attempts_as_oauth2_until_it_is_back,
    get_webhook_shows_the_credentials_but_never_the_secret_which_is_sealed,
    an_update_keeps_the_secret_when_left_empty_and_removes_the_credentials_when_unset,
    bad_credentials_are_refused_on_their_fields,
    credentials_travel_over_rest_and_come_back_without_the_secret,
);

const WAIT: Duration = Duration::from_secs(20);
const PATH: &str = "/hook";

fn credentials(token_url: &str) -> OAuth2ClientCredentials {
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
async fn app_for(backend: Backend, receiver: &Receiver, tokens: &TokenServer) -> TestApp {
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

fn statuses(got: &[crate::support::receiver::Received]) -> Vec<u16> {
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

async fn get_webhook_shows_the_credentials_but_never_the_secret_which_is_sealed(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.encryption_key = Some(STANDARD.encode([9u8; 32]).into());
    })
    .await;
    let mut request = app.create_request("https://hooks.example.com/o", &["member.added"]);
    request.oauth2 = Some(credentials("https://auth.example.com/oauth/token"));
    let created = app.create_webhook(request).await.unwrap();
    let got = app
        .get_webhook(&created.webhook.as_ref().unwrap().id)
        .await
        .unwrap();
    for webhook in [created.webhook.as_ref().unwrap(), &got] {
        let shown = webhook.oauth2.as_ref().expect("oauth2 shown");
        assert_eq!(shown.token_url, "https://auth.example.com/oauth/token");
        assert_eq!(shown.client_id, CLIENT_ID);
        assert_eq!(shown.scopes, ["hooks:write", "audit"]);
        assert_eq!(shown.audience, "https://hooks.example.com");
        assert!(!format!("{webhook:?}").contains(CLIENT_SECRET));
    }
    let rows = app
        .query("SELECT oauth2, oauth2_secret FROM webhooks")
        .await;
    assert_eq!(rows.len(), 1);
    let settings: String = rows[0].try_get("", "oauth2").unwrap();
    let sealed: String = rows[0].try_get("", "oauth2_secret").unwrap();
    assert!(settings.contains(CLIENT_ID) && !settings.contains(CLIENT_SECRET));
    assert!(sealed.starts_with("xc20p1:"), "sealed: {}", &sealed[..7]);
    assert!(!sealed.contains(CLIENT_SECRET));

    // A webhook without credentials shows none.
    let plain = app
        .subscribe("https://hooks.example.com/plain", &["member.added"])
        .await;
    assert_eq!(plain.webhook.unwrap().oauth2, None);
}

fn mask(path: &str) -> pbjson_types::FieldMask {
    pbjson_types::FieldMask {
        paths: vec![path.to_owned()],
    }
}

async fn an_update_keeps_the_secret_when_left_empty_and_removes_the_credentials_when_unset(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let tokens = TokenServer::issuing_for(Duration::from_secs(300)).await;
    let app = app_for(backend, &receiver, &tokens).await;
    // Created without credentials: the receiver refuses its deliveries.
    let webhook = app
        .subscribe(&receiver.url(PATH), &["member.added"])
        .await
        .webhook
        .unwrap();
    let no_secret = OAuth2ClientCredentials {
        client_secret: String::new(),
        ..credentials(&tokens.url())
    };
    let refused = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: webhook.id.clone(),
            oauth2: Some(no_secret.clone()),
            update_mask: Some(mask("oauth2")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&refused)[0].0, "oauth2.client_secret");

    app.update_webhook(UpdateWebhookRequest {
        webhook_id: webhook.id.clone(),
        oauth2: Some(credentials(&tokens.url())),
        update_mask: Some(mask("oauth2")),
        ..Default::default()
    })
    .await
    .unwrap();
    // Fewer scopes, the secret left empty: the stored one still
    // authenticates (the token server checks it).
    let updated = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: webhook.id.clone(),
            oauth2: Some(OAuth2ClientCredentials {
                scopes: vec!["audit".into()],
                ..no_secret
            }),
            update_mask: Some(mask("oauth2")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.oauth2.unwrap().scopes, ["audit"]);
    app.publish("member.added", json!({}), "").await.unwrap();
    let got = receiver.wait_for(PATH, 1, WAIT).await;
    assert_eq!(statuses(&got), [200]);
    assert_eq!(tokens.requests()[0].form["scope"], "audit");

    let removed = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: webhook.id.clone(),
            update_mask: Some(mask("oauth2")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(removed.oauth2, None);
    assert_eq!(app.get_webhook(&webhook.id).await.unwrap().oauth2, None);
    let rows = app.query("SELECT oauth2_secret FROM webhooks").await;
    let secret: Option<String> = rows[0].try_get("", "oauth2_secret").unwrap();
    assert_eq!(secret, None, "the sealed secret goes too");
}

async fn bad_credentials_are_refused_on_their_fields(backend: Backend) {
    let app = spawn_app(backend).await; // private targets not allowed
    let good = credentials("https://auth.example.com/token");
    let cases: Vec<(OAuth2ClientCredentials, &str, &str)> = vec![
        (
            OAuth2ClientCredentials {
                token_url: "https://127.0.0.1:8443/token".into(),
                ..good.clone()
            },
            "oauth2.token_url",
            "private",
        ),
        (
            OAuth2ClientCredentials {
                token_url: "http://auth.example.com/token".into(),
                ..good.clone()
            },
            "oauth2.token_url",
            "https",
        ),
        (
            OAuth2ClientCredentials {
                token_url: "https://user:pw@auth.example.com/token".into(),
                ..good.clone()
            },
            "oauth2.token_url",
            "user name or password",
        ),
        (
            OAuth2ClientCredentials {
                client_id: String::new(),
                ..good.clone()
            },
            "oauth2.client_id",
            "empty",
        ),
        (
            OAuth2ClientCredentials {
                client_id: "c".repeat(257),
                ..good.clone()
            },
            "oauth2.client_id",
            "256",
        ),
        (
            OAuth2ClientCredentials {
                client_secret: String::new(),
                ..good.clone()
            },
            "oauth2.client_secret",
            "empty",
        ),
        (
            OAuth2ClientCredentials {
                client_secret: "s".repeat(1025),
                ..good.clone()
            },
            "oauth2.client_secret",
            "1024",
        ),
        (
            OAuth2ClientCredentials {
                scopes: vec!["s".into(); 21],
                ..good.clone()
            },
            "oauth2.scopes",
            "at most 20",
        ),
        (
            OAuth2ClientCredentials {
                scopes: vec!["read write".into()],
                ..good.clone()
            },
            "oauth2.scopes",
            "RFC 6749",
        ),
        (
            OAuth2ClientCredentials {
                audience: "a".repeat(257),
                ..good.clone()
            },
            "oauth2.audience",
            "256",
        ),
    ];
    for (oauth2, field, says) in cases {
        let request = CreateWebhookRequest {
            oauth2: Some(oauth2),
            ..app.create_request("https://hooks.example.com/bad", &["member.added"])
        };
        let status = app.create_webhook(request).await.unwrap_err();
        let refused = violations(&status);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, field, "{refused:?}");
        assert!(refused[0].1.contains(says), "{refused:?}");
    }
    // Every field wrong at once: each is named.
    let request = CreateWebhookRequest {
        oauth2: Some(OAuth2ClientCredentials::default()),
        ..app.create_request("https://hooks.example.com/bad", &["member.added"])
    };
    let status = app.create_webhook(request).await.unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|v| v.0).collect();
    assert_eq!(
        fields,
        [
            "oauth2.token_url",
            "oauth2.client_id",
            "oauth2.client_secret"
        ]
    );

    let relaxed = spawn_app_with(backend, |s| s.allow_private_targets = true).await;
    let request = CreateWebhookRequest {
        oauth2: Some(credentials("https://127.0.0.1:8443/token")),
        ..relaxed.create_request("https://hooks.example.com/ok", &["member.added"])
    };
    assert!(relaxed.create_webhook(request).await.is_ok());
}

async fn credentials_travel_over_rest_and_come_back_without_the_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let body = json!({
        "url": "https://hooks.example.com/rest-oauth2",
        "events": ["member.added"],
        "oauth2": {
            "tokenUrl": "https://auth.example.com/token",
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "scopes": ["audit"],
        },
    });
    let answer = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let shown = &answer.body["webhook"]["oauth2"];
    assert_eq!(shown["tokenUrl"], "https://auth.example.com/token");
    assert_eq!(shown["clientId"], CLIENT_ID);
    assert_eq!(shown["scopes"], json!(["audit"]));
    assert!(
        !answer.body.to_string().contains(CLIENT_SECRET),
        "{answer:?}"
    );

    let refused = app
        .create_over_rest(
            Some(&token),
            &json!({
                "url": "https://hooks.example.com/rest-oauth2-bad",
                "events": ["member.added"],
                "oauth2": {"tokenUrl": "https://auth.example.com/token", "clientId": "c"},
            }),
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let fields: Vec<String> = refused.violations().into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["oauth2.clientSecret"]);
}
