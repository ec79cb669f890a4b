//! Claim names of real identity providers: nested and namespaced paths,
//! scopes and roles as lists, roles in any case.

use serde_json::{Value, json};
use tonic::{Code, Status};

use crate::support::jwks::{JwksServer, TestKey, key_set};
use crate::support::{Backend, TestApp, authorized, hs256, spawn_app, spawn_app_with, to_struct};
use webhook_service::config::Settings;
use webhook_service::grpc::proto::PublishEventRequest;

async fn publish(app: &TestApp, token: &str) -> Result<(), Status> {
    let request = PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "member.added".into(),
        data: Some(to_struct(json!({}))),
        ..Default::default()
    };
    app.events()
        .await
        .publish_event(authorized(request, token))
        .await
        .map(|_| ())
}

fn token_claims(extra: Value) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({"sub": "auth0|42", "iat": now, "exp": now + 600});
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

fn claim_names<'a>(
    server: &'a JwksServer,
    org: &'a str,
    role: &'a str,
    scope: &'a str,
) -> impl FnOnce(&mut Settings) + 'a {
    move |settings| {
        server.trusted()(settings);
        settings.jwt_org_claim = org.parse().unwrap();
        settings.jwt_role_claim = role.parse().unwrap();
        settings.jwt_scope_claim = scope.parse().unwrap();
    }
}

#[tokio::test]
async fn a_namespaced_organization_and_nested_roles_are_read_where_the_settings_say() {
    let key = TestKey::es256("idp");
    let server = JwksServer::start(&key_set(&[&key])).await;
    let app = spawn_app_with(
        Backend::Sqlite,
        claim_names(
            &server,
            r#"["https://example.com/org_id"]"#,
            "realm_access.roles",
            "scope",
        ),
    )
    .await;
    let org = app.organization.to_string();

    let admin = token_claims(json!({
        "https://example.com/org_id": org,
        "realm_access": {"roles": ["offline_access", "uma_authorization", "admin"]},
    }));
    app.list_webhooks_as(&key.sign(&admin)).await.unwrap();

    // The default names mean nothing now: no organization, no role.
    let flat = token_claims(json!({"org_id": org, "role": "OWNER"}));
    let status = app.list_webhooks_as(&key.sign(&flat)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

#[tokio::test]
async fn the_highest_known_role_of_a_list_counts_and_a_list_without_one_is_refused() {
    let key = TestKey::es256("idp");
    let server = JwksServer::start(&key_set(&[&key])).await;
    let app = spawn_app_with(
        Backend::Sqlite,
        claim_names(&server, "org.id", "org.roles", "scope"),
    )
    .await;
    let org = app.organization.to_string();
    let token = |roles: Value| key.sign(&token_claims(json!({"org": {"id": org, "roles": roles}})));

    app.list_webhooks_as(&token(json!(["member", "Owner"])))
        .await
        .unwrap();
    let member = app
        .list_webhooks_as(&token(json!(["MEMBER", "viewer"])))
        .await
        .unwrap_err();
    assert_eq!(member.code(), Code::PermissionDenied);
    let none_known = app
        .list_webhooks_as(&token(json!(["viewer"])))
        .await
        .unwrap_err();
    assert_eq!(none_known.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_scope_list_in_scp_grants_publishing() {
    let key = TestKey::rsa("okta", jsonwebtoken::Algorithm::RS256);
    let server = JwksServer::start(&key_set(&[&key])).await;
    let app = spawn_app_with(
        Backend::Sqlite,
        claim_names(&server, "org_id", "role", "scp"),
    )
    .await;

    let publisher = token_claims(json!({"scp": ["openid", "events:publish"]}));
    publish(&app, &key.sign(&publisher)).await.unwrap();

    let reader = token_claims(json!({"scp": ["openid", "events:read"]}));
    let status = publish(&app, &key.sign(&reader)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // `scope` is not read any more.
    let old_name = token_claims(json!({"scope": "events:publish"}));
    let status = publish(&app, &key.sign(&old_name)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn roles_are_accepted_in_any_case() {
    let app = spawn_app(Backend::Sqlite).await;
    for role in ["admin", "Owner", "ADMIN"] {
        let token = hs256(&crate::support::claims(app.organization, role));
        app.list_webhooks_as(&token)
            .await
            .unwrap_or_else(|s| panic!("{role}: {s:?}"));
    }
    let member = hs256(&crate::support::claims(app.organization, "member"));
    let status = app.list_webhooks_as(&member).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}
