use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;
use tonic::{Code, Request, Status};

use crate::on_every_backend;
use crate::support::{
    Backend, TestApp, authorized, claims, hs256, sign, spawn_app, spawn_app_with,
};

on_every_backend!(
    a_member_is_permission_denied,
    a_token_for_another_organization_is_permission_denied,
    no_token_is_unauthenticated,
    a_malformed_header_is_unauthenticated,
    a_garbage_token_is_unauthenticated,
    a_token_signed_with_another_key_is_unauthenticated,
    an_expired_token_is_unauthenticated,
    a_token_without_exp_is_unauthenticated,
    a_token_not_yet_valid_is_unauthenticated,
    an_alg_none_token_is_unauthenticated,
    a_token_with_bad_claims_is_unauthenticated,
    a_token_whose_sub_holds_control_characters_is_unauthenticated,
    issuer_and_audience_are_enforced_when_configured,
    a_public_key_accepts_its_own_algorithm_only,
);

async fn call(app: &TestApp, token: Option<&str>) -> Result<(), Status> {
    let request = app.create_request("https://hooks.example.com/auth", &["member.added"]);
    let request = match token {
        Some(token) => authorized(request, token),
        None => Request::new(request),
    };
    app.webhooks()
        .await
        .create_webhook(request)
        .await
        .map(|_| ())
}

async fn assert_unauthenticated(app: &TestApp, token: &str) {
    let status = call(app, Some(token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

async fn a_member_is_permission_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    let status = call(&app, Some(&app.token("MEMBER"))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "only owners and admins can create webhooks"
    );
}

async fn a_token_for_another_organization_is_permission_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = uuid::Uuid::new_v4();
    let token = app.token_for(other, "OWNER");
    let status = call(&app, Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // The organization is the cause, not the role.
    assert_eq!(
        status.message(),
        format!(
            "this token is for organization {other}, not {}",
            app.organization
        )
    );
}

async fn no_token_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let status = call(&app, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "missing bearer token");
}

async fn a_malformed_header_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request =
        Request::new(app.create_request("https://hooks.example.com/x", &["member.added"]));
    let token = app.token("OWNER");
    request
        .metadata_mut()
        .insert("authorization", format!("Basic {token}").parse().unwrap());
    let status = app
        .webhooks()
        .await
        .create_webhook(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn a_garbage_token_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_unauthenticated(&app, "garbage").await;
    assert_unauthenticated(&app, "a.b.c").await;
}

async fn a_token_signed_with_another_key_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = sign(
        &claims(app.organization, "OWNER"),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"some other secret"),
    );
    assert_unauthenticated(&app, &token).await;
}

async fn an_expired_token_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = claims(app.organization, "OWNER");
    claims["exp"] = json!(jsonwebtoken::get_current_timestamp() - 3600);
    let status = call(&app, Some(&hs256(&claims))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token expired");
}

async fn a_token_without_exp_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = claims(app.organization, "OWNER");
    claims.as_object_mut().unwrap().remove("exp");
    assert_unauthenticated(&app, &hs256(&claims)).await;
}

async fn a_token_not_yet_valid_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = claims(app.organization, "OWNER");
    claims["nbf"] = json!(jsonwebtoken::get_current_timestamp() + 600);
    assert_unauthenticated(&app, &hs256(&claims)).await;
}

async fn an_alg_none_token_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(app.organization, "OWNER").to_string());
    assert_unauthenticated(&app, &format!("{header}.{body}.")).await;
    assert_unauthenticated(&app, &format!("{header}.{body}")).await;
}

async fn a_token_with_bad_claims_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut bad_role = claims(app.organization, "OWNER");
    bad_role["role"] = json!("SUPERUSER");
    assert_unauthenticated(&app, &hs256(&bad_role)).await;

    let mut bad_org = claims(app.organization, "OWNER");
    bad_org["org_id"] = json!("acme");
    assert_unauthenticated(&app, &hs256(&bad_org)).await;
}

async fn issuer_and_audience_are_enforced_when_configured(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.jwt_issuer = Some("https://id.example.com".into());
        s.jwt_audience = Some("webhook-service".into());
    })
    .await;
    let mut good = claims(app.organization, "OWNER");
    good["iss"] = json!("https://id.example.com");
    good["aud"] = json!(["other-service", "webhook-service"]);
    assert!(call(&app, Some(&hs256(&good))).await.is_ok());

    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("https://evil.example.com");
    assert_unauthenticated(&app, &hs256(&wrong_issuer)).await;

    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("another-service");
    assert_unauthenticated(&app, &hs256(&wrong_audience)).await;

    let mut no_issuer = good;
    no_issuer.as_object_mut().unwrap().remove("iss");
    assert_unauthenticated(&app, &hs256(&no_issuer)).await;
}

async fn a_public_key_accepts_its_own_algorithm_only(backend: Backend) {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let public_pem = std::fs::read(fixtures.join("es256-public.pem")).unwrap();
    let app = spawn_app_with(backend, |s| {
        s.jwt_secret = None;
        s.jwt_public_key_file = Some(fixtures.join("es256-public.pem"));
    })
    .await;
    let claims = claims(app.organization, "OWNER");

    let es256_key =
        EncodingKey::from_ec_pem(&std::fs::read(fixtures.join("es256-private.pem")).unwrap())
            .unwrap();
    let es256 = sign(&claims, Algorithm::ES256, &es256_key);
    assert!(call(&app, Some(&es256)).await.is_ok());

    // HS/ES confusion: an HMAC keyed with the public key must not pass.
    let confused = sign(
        &claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(&public_pem),
    );
    assert_unauthenticated(&app, &confused).await;

    let rs256_key =
        EncodingKey::from_rsa_pem(&std::fs::read(fixtures.join("rs256-private.pem")).unwrap())
            .unwrap();
    assert_unauthenticated(&app, &sign(&claims, Algorithm::RS256, &rs256_key)).await;
}

async fn a_token_whose_sub_holds_control_characters_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    for sub in ["user\0", "user\nforged log line"] {
        let mut claims = claims(app.organization, "OWNER");
        claims["sub"] = json!(sub);
        assert_unauthenticated(&app, &hs256(&claims)).await;
    }
}
