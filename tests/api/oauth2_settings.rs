//! OAuth2 client credentials, the write side: refused field by field,
//! read back without the secret, sealed at rest, kept or removed by
//! UpdateWebhook, and the same over REST.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;
use std::time::Duration;
use webhook_service::grpc::proto::{
    CreateWebhookRequest, OAuth2ClientCredentials, UpdateWebhookRequest,
};

use crate::oauth2::{PATH, WAIT, app_for, credentials, statuses};
use crate::on_every_backend;
use crate::support::catalogue::violations;
use crate::support::oauth2::{CLIENT_ID, CLIENT_SECRET, TokenServer};
use crate::support::receiver::Receiver;
use crate::support::{Backend, spawn_app, spawn_app_with};

on_every_backend!(
    get_webhook_shows_the_credentials_but_never_the_secret_which_is_sealed,
    an_update_keeps_the_secret_when_left_empty_and_removes_the_credentials_when_unset,
    bad_credentials_are_refused_on_their_fields,
    credentials_travel_over_rest_and_come_back_without_the_secret,
);

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
