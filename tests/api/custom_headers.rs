//! A webhook's own headers (issue 24 item 2): sent on every attempt, read
//! back masked unless plain, sealed at rest, kept, replaced and cleared by
//! UpdateWebhook, refused with a field violation naming the header.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;
use webhook_service::grpc::proto::{UpdateWebhookRequest, Webhook, WebhookHeader};

use crate::on_every_backend;
use crate::support::catalogue::violations;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, spawn_app, spawn_app_at, spawn_app_with};

on_every_backend!(
    headers_arrive_on_every_attempt_and_a_credential_is_never_read_back,
    an_update_keeps_an_empty_value_replaces_the_set_and_clears_it,
    each_refused_header_is_invalid_argument_naming_it,
    headers_travel_over_rest_and_read_back_masked,
    a_credential_that_cannot_be_opened_holds_the_delivery_until_the_key_is_right,
);

const WAIT: Duration = Duration::from_secs(15);

fn header(name: &str, value: &str, plain: bool) -> WebhookHeader {
    WebhookHeader {
        name: name.into(),
        value: value.into(),
        plain,
    }
}

/// The two headers of the brief: a credential and a plain tenant id.
fn two_headers() -> Vec<WebhookHeader> {
    vec![
        header("Authorization", "Bearer xyz", false),
        header("X-Tenant", "a", true),
    ]
}

/// `(name, value, plain)` as a webhook shows them.
fn shown(webhook: &Webhook) -> Vec<(String, String, bool)> {
    webhook
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone(), h.plain))
        .collect()
}

fn masked_pair() -> Vec<(String, String, bool)> {
    vec![
        ("authorization".into(), String::new(), false),
        ("x-tenant".into(), "a".into(), true),
    ]
}

fn mask(path: &str) -> pbjson_types::FieldMask {
    pbjson_types::FieldMask {
        paths: vec![path.to_owned()],
    }
}

async fn headers_arrive_on_every_attempt_and_a_credential_is_never_read_back(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.encryption_key = Some(STANDARD.encode([9u8; 32]).into());
        s.retry_schedule = "100ms".into();
    })
    .await;
    receiver.script("/h", [Reply::status(500), Reply::status(200)]);
    let mut request = app.create_request(&receiver.url("/h"), &["member.added"]);
    request.headers = two_headers();
    let created = app.create_webhook(request).await.unwrap();
    let webhook = created.webhook.unwrap();
    assert_eq!(shown(&webhook), masked_pair());

    app.publish("member.added", json!({}), "").await.unwrap();
    let got = receiver.wait_for("/h", 2, WAIT).await;
    for (attempt, received) in got.iter().enumerate() {
        assert_eq!(
            received.header("authorization"),
            "Bearer xyz",
            "attempt {attempt}"
        );
        assert_eq!(received.header("x-tenant"), "a", "attempt {attempt}");
        // Ours are still there, once.
        assert_eq!(received.header("content-type"), "application/json");
        assert_eq!(received.headers.get_all("webhook-id").iter().count(), 1);
    }
    assert_eq!(got[1].header("x-webhook-attempt"), "2");

    assert_eq!(
        shown(&app.get_webhook(&webhook.id).await.unwrap()),
        masked_pair()
    );
    let listed = app.list_webhooks().await;
    assert_eq!(shown(&listed[0]), masked_pair());

    let rows = app.query("SELECT headers FROM webhooks").await;
    let stored: String = rows[0].try_get("", "headers").unwrap();
    assert!(stored.contains("x-tenant"), "{stored}");
    assert!(
        !stored.contains("xyz"),
        "the credential is stored in clear: {stored}"
    );
}

async fn an_update_keeps_an_empty_value_replaces_the_set_and_clears_it(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let mut request = app.create_request(&receiver.url("/u"), &["member.added"]);
    request.headers = two_headers();
    let id = app
        .create_webhook(request)
        .await
        .unwrap()
        .webhook
        .unwrap()
        .id;
    let update = |headers: Vec<WebhookHeader>| UpdateWebhookRequest {
        webhook_id: id.clone(),
        headers,
        update_mask: Some(mask("headers")),
        ..Default::default()
    };

    // Read, edit the plain one, write back the credential's empty value.
    let mut edited: Vec<WebhookHeader> = app.get_webhook(&id).await.unwrap().headers;
    edited[1].value = "b".into();
    let kept = app.update_webhook(update(edited)).await.unwrap();
    assert_eq!(
        shown(&kept),
        [
            ("authorization".into(), String::new(), false),
            ("x-tenant".into(), "b".into(), true)
        ]
    );
    app.publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    let got = receiver.wait_for("/u", 1, WAIT).await;
    assert_eq!(got[0].header("authorization"), "Bearer xyz");
    assert_eq!(got[0].header("x-tenant"), "b");

    // An empty value names no stored header: refused, nothing changes.
    let refused = app
        .update_webhook(update(vec![header("x-api-key", "", false)]))
        .await
        .unwrap_err();
    assert_eq!(violations(&refused)[0].0, "headers/x-api-key");
    // Nor may a kept credential become plain (it would be shown).
    let refused = app
        .update_webhook(update(vec![header("authorization", "", true)]))
        .await
        .unwrap_err();
    assert_eq!(violations(&refused)[0].0, "headers/authorization");

    let replaced = app
        .update_webhook(update(vec![header("X-Api-Key", "k2", false)]))
        .await
        .unwrap();
    assert_eq!(
        shown(&replaced),
        [("x-api-key".into(), String::new(), false)]
    );
    app.publish("member.added", json!({"n": 2}), "")
        .await
        .unwrap();
    let got = receiver.wait_for("/u", 2, WAIT).await;
    assert_eq!(got[1].header("x-api-key"), "k2");
    assert!(got[1].headers.get("authorization").is_none());
    assert!(got[1].headers.get("x-tenant").is_none());

    // Another field's update leaves them.
    let described = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: id.clone(),
            description: "kept".into(),
            update_mask: Some(mask("description")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(described.headers.len(), 1);

    let cleared = app.update_webhook(update(Vec::new())).await.unwrap();
    assert!(cleared.headers.is_empty(), "{cleared:?}");
    assert!(app.get_webhook(&id).await.unwrap().headers.is_empty());
    app.publish("member.added", json!({"n": 3}), "")
        .await
        .unwrap();
    let got = receiver.wait_for("/u", 3, WAIT).await;
    assert!(got[2].headers.get("x-api-key").is_none());
}

async fn each_refused_header_is_invalid_argument_naming_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let many: Vec<_> = (0..21)
        .map(|i| header(&format!("x-h{i}"), "v", false))
        .collect();
    let nine_big: Vec<_> = (0..9)
        .map(|i| header(&format!("x-big{i}"), &"v".repeat(1000), false))
        .collect();
    let cases: Vec<(Vec<WebhookHeader>, &str, &str)> = vec![
        (
            vec![header("Host", "x", false)],
            "headers/host",
            "set by the service",
        ),
        (
            vec![header("webhook-id", "x", false)],
            "headers/webhook-id",
            "reserved",
        ),
        (
            vec![header("X-Webhook-Foo", "x", false)],
            "headers/x-webhook-foo",
            "reserved",
        ),
        (
            vec![header("transfer-encoding", "x", false)],
            "headers/transfer-encoding",
            "hop-by-hop",
        ),
        (
            vec![header("bad name", "x", false)],
            "headers",
            "\"bad name\"",
        ),
        (
            vec![header("x-key", "a\r\nb", false)],
            "headers/x-key",
            "control character",
        ),
        (many, "headers", "21 headers"),
        (
            vec![header("x-key", &"v".repeat(1025), false)],
            "headers/x-key",
            "1025 bytes",
        ),
        (nine_big, "headers", "at most 8192"),
        (
            vec![header("X-Key", "a", false), header("x-key", "b", false)],
            "headers/x-key",
            "more than once",
        ),
        (
            vec![header("x-key", "", false)],
            "headers/x-key",
            "empty value",
        ),
    ];
    for (headers, field, says) in cases {
        let mut request = app.create_request("https://hooks.example.com/r", &["member.added"]);
        request.headers = headers;
        let status = app.create_webhook(request).await.unwrap_err();
        let refused = violations(&status);
        assert_eq!(refused.len(), 1, "{field}: {refused:?}");
        assert_eq!(refused[0].0, field, "{refused:?}");
        assert!(refused[0].1.contains(says), "{field}: {refused:?}");
        assert!(!status.message().contains("a\r\nb"));
    }
    // Nothing was stored by the refusals.
    assert!(app.query("SELECT id FROM webhooks").await.is_empty());
}

async fn headers_travel_over_rest_and_read_back_masked(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let body = json!({
        "url": "https://hooks.example.com/rest-headers",
        "events": ["member.added"],
        "headers": [
            {"name": "Authorization", "value": "Bearer xyz"},
            {"name": "X-Tenant", "value": "a", "plain": true},
        ],
    });
    let answer = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let masked = json!([
        {"name": "authorization", "value": "", "plain": false},
        {"name": "x-tenant", "value": "a", "plain": true},
    ]);
    assert_eq!(answer.body["webhook"]["headers"], masked);
    let id = answer.body["webhook"]["id"].as_str().unwrap();
    let path = app.org_path(&format!("/webhooks/{id}"));
    let got = app.rest().call("GET", &path, Some(&token), None).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body["headers"], masked);

    let refused = app
        .create_over_rest(
            Some(&token),
            &json!({
                "url": "https://hooks.example.com/rest-refused",
                "events": ["member.added"],
                "headers": [{"name": "Content-Type", "value": "text/plain"}],
            }),
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let fields: Vec<String> = refused.violations().into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["headers/content-type"]);
}

async fn a_credential_that_cannot_be_opened_holds_the_delivery_until_the_key_is_right(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("w.db").display()),
        Backend::Postgres => crate::support::postgres::fresh_database().unwrap(),
    };
    let receiver = Receiver::start().await;
    let with_key = |key: u8| {
        let receiver = &receiver;
        move |s: &mut webhook_service::config::Settings| {
            deliver_to(receiver)(s);
            s.encryption_key = Some(STANDARD.encode([key; 32]).into());
            // Else the portal key stored under the first key stops the start.
            s.portal_key = Some("a-portal-key-of-at-least-32-bytes-long".into());
            // A short lease, so a claim the wrong key refused is taken again soon.
            s.timeout = Duration::from_secs(2);
            s.lease = Some(Duration::from_millis(2100));
            s.poll_interval = Duration::from_millis(50);
        }
    };
    let first = spawn_app_at(url.clone(), with_key(9)).await;
    let organization = first.organization;
    let mut request = first.create_request(&receiver.url("/k"), &["member.added"]);
    request.headers = two_headers();
    let created = first.create_webhook(request).await.unwrap();
    // The signing secret stored as a keyless service stores it, so that
    // only the header's value depends on the key.
    first
        .query(&format!(
            "UPDATE webhooks SET secret = 'plain:{}'",
            created.secret
        ))
        .await;
    first.stop_within(WAIT).await;

    let wrong = spawn_app_at(url.clone(), with_key(8)).await;
    wrong
        .publish_for(organization, "member.added")
        .await
        .unwrap();
    // Claimed (leased) at least twice, sent never.
    let mut leases = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while leases.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never claimed: {leases:?}"
        );
        let rows = wrong
            .query("SELECT CAST(lease_until AS TEXT) AS lease, attempts FROM deliveries")
            .await;
        if let Some(row) = rows.first() {
            let attempts: i32 = row.try_get("", "attempts").unwrap();
            assert_eq!(attempts, 0);
            let lease: Option<String> = row.try_get("", "lease").unwrap();
            if lease.is_some() && leases.last() != Some(&lease) {
                leases.push(lease);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receiver.total(), 0);
    wrong.stop_within(WAIT).await;

    let right = spawn_app_at(url, with_key(9)).await;
    let got = receiver.wait_for("/k", 1, WAIT).await;
    assert_eq!(got[0].header("authorization"), "Bearer xyz");
    assert_eq!(got[0].header("x-tenant"), "a");
    drop(right);
}
