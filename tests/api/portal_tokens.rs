//! What a portal token may do: manage its own organization's webhooks
//! through the REST face, and nothing else. Its key is the one configured,
//! or else the one stored in the database, shared across restarts and
//! replicas.

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::portal::{PORTAL_KEY, portal_claims, sign_portal_token, token_of_link};
use crate::support::{Backend, TestApp, authorized, spawn_app, spawn_app_at, spawn_app_with};
use webhook_service::grpc::proto::ListWebhooksRequest;

on_every_backend!(
    a_portal_token_lists_and_creates_its_organizations_webhooks_over_rest,
    a_portal_token_is_refused_over_grpc,
    a_portal_token_is_refused_for_another_organization,
    a_portal_token_makes_no_portal_links_and_publishes_nothing,
    a_link_made_before_a_restart_works_after_it_and_replicas_agree,
);

async fn a_portal_token_lists_and_creates_its_organizations_webhooks_over_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    app.subscribe("https://hooks.example.com/old", &["member.added"])
        .await;
    let token = app.portal_token().await;
    let rest = app.rest();

    let listed = rest
        .call("GET", &app.org_path("/webhooks"), Some(&token), None)
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["webhooks"].as_array().unwrap().len(), 1);

    let body = json!({"url": "https://hooks.example.com/new", "events": ["member.added"]});
    let created = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(created.status, 201, "{created:?}");
    let types = rest.call("GET", "/v1/eventTypes", Some(&token), None).await;
    assert_eq!(types.status, 200, "{types:?}");
}

async fn a_portal_token_is_refused_over_grpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.portal_token().await;
    let request = ListWebhooksRequest {
        organization_id: app.organization.to_string(),
        ..Default::default()
    };
    let refused = app
        .webhooks()
        .await
        .list_webhooks(authorized(request, &token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(
        refused.message(),
        "portal links are valid only in the console"
    );
    // Not even CreatePortalLink gets as far as its access check.
    let refused = app.create_portal_link(&token, None).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
}

async fn a_portal_token_is_refused_for_another_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.portal_token().await;
    let other = format!("/v1/organizations/{}/webhooks", uuid::Uuid::new_v4());
    let answer = app.rest().call("GET", &other, Some(&token), None).await;
    assert_eq!(answer.status, 403, "{answer:?}");
}

async fn a_portal_token_makes_no_portal_links_and_publishes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.portal_token().await;
    let rest = app.rest();

    let link = rest
        .call(
            "POST",
            &app.org_path("/portalLinks"),
            Some(&token),
            Some(&json!({"ttl": "60s"})),
        )
        .await;
    assert_eq!(link.status, 403, "{link:?}");
    assert_eq!(
        link.body["message"],
        "a portal link cannot create portal links"
    );

    let event = json!({"type": "member.added", "data": {}});
    let published = rest
        .call("POST", &app.org_path("/events"), Some(&token), Some(&event))
        .await;
    assert_eq!(published.status, 403, "{published:?}");
    assert_eq!(
        published.body["message"],
        "a portal link cannot publish events"
    );
}

/// A database that outlives the apps on it, and what keeps it.
fn lasting_database(backend: Backend) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("w.db").display()),
        Backend::Postgres => crate::support::postgres::fresh_database().expect("PostgreSQL"),
    };
    (dir, url)
}

async fn lists_with(app: &TestApp, token: &str) -> u16 {
    let path = app.org_path("/webhooks");
    app.rest()
        .call("GET", &path, Some(token), None)
        .await
        .status
}

async fn a_link_made_before_a_restart_works_after_it_and_replicas_agree(backend: Backend) {
    let (_dir, url) = lasting_database(backend);
    let first = spawn_app_at(url.clone(), |_| {}).await;
    let organization = first.organization;
    let token = first.portal_token().await;
    assert_eq!(lists_with(&first, &token).await, 200);
    first.stop_within(std::time::Duration::from_secs(10)).await;

    let mut restarted = spawn_app_at(url.clone(), |_| {}).await;
    restarted.organization = organization;
    assert_eq!(lists_with(&restarted, &token).await, 200);

    if backend == Backend::Postgres {
        // Two replicas at once: a link from one works on the other.
        let mut replica = spawn_app_at(url, |_| {}).await;
        replica.organization = organization;
        let from_replica = replica.portal_token().await;
        assert_eq!(lists_with(&restarted, &from_replica).await, 200);
        assert_eq!(lists_with(&replica, &token).await, 200);
    }
}

#[tokio::test]
async fn with_an_encryption_key_the_stored_portal_key_is_sealed_and_outlives_a_restart() {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let (_dir, url) = lasting_database(Backend::Sqlite);
    let sealed = |s: &mut webhook_service::config::Settings| {
        s.encryption_key = Some(STANDARD.encode([9u8; 32]).into());
    };
    let first = spawn_app_at(url.clone(), sealed).await;
    let organization = first.organization;
    let token = first.portal_token().await;
    let rows = first.query("SELECT key FROM service_keys").await;
    let stored: Vec<u8> = rows[0].try_get("", "key").unwrap();
    assert!(
        stored.starts_with(b"xc20p1:"),
        "{}",
        String::from_utf8_lossy(&stored)
    );
    first.stop_within(std::time::Duration::from_secs(10)).await;

    let mut restarted = spawn_app_at(url, sealed).await;
    restarted.organization = organization;
    assert_eq!(lists_with(&restarted, &token).await, 200);
}

#[tokio::test]
async fn replicas_starting_together_on_one_database_store_one_key() {
    if !crate::support::postgres_available() {
        return;
    }
    let url = crate::support::postgres::fresh_database().unwrap();
    let (a, b) = tokio::join!(
        spawn_app_at(url.clone(), |_| {}),
        spawn_app_at(url.clone(), |_| {})
    );
    let mut b = b;
    b.organization = a.organization;
    assert_eq!(lists_with(&b, &a.portal_token().await).await, 200);
    assert_eq!(lists_with(&a, &b.portal_token().await).await, 200);
    assert_eq!(a.query("SELECT name FROM service_keys").await.len(), 1);
}

#[tokio::test]
async fn expired_tokens_and_tokens_signed_with_another_key_are_refused() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.portal_key = Some(PORTAL_KEY.into())).await;
    let now = jsonwebtoken::get_current_timestamp();
    let valid = sign_portal_token(&portal_claims(app.organization, now + 60), PORTAL_KEY);
    assert_eq!(lists_with(&app, &valid).await, 200);

    // No leeway: refused from the second its `exp` names on.
    for exp in [now - 31, now] {
        let expired = sign_portal_token(&portal_claims(app.organization, exp), PORTAL_KEY);
        let answer = app
            .rest()
            .call("GET", &app.org_path("/webhooks"), Some(&expired), None)
            .await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(answer.body["message"], "token expired");
    }

    let other_key = "another-portal-key-0123456789abcdef";
    let forged = sign_portal_token(&portal_claims(app.organization, now + 60), other_key);
    assert_eq!(lists_with(&app, &forged).await, 401);

    // With the configured key, links are signed with it and nothing is stored.
    let link = app
        .create_portal_link(&app.token("OWNER"), None)
        .await
        .unwrap();
    assert_eq!(lists_with(&app, &token_of_link(&link.url)).await, 200);
    assert!(app.query("SELECT name FROM service_keys").await.is_empty());
}
