//! CreatePortalLink, over gRPC and REST: who may make a link, how long it
//! may work, what it looks like, and the settings around it.

use std::time::Duration;

use serde_json::json;
use tonic::Code;

use crate::cli;
use crate::on_every_backend;
use crate::support::portal::{jwt_parts, token_of_link};
use crate::support::{
    Backend, JWT_SECRET, assert_field_violation, spawn_app, spawn_app_with, start_failure,
};
use webhook_service::config::ListenAddr;

on_every_backend!(
    an_owner_gets_a_link_to_the_console_over_grpc_with_the_token_in_its_fragment,
    an_admin_gets_a_link_over_rest_answered_201,
    a_ttl_over_the_maximum_not_positive_or_fractional_is_refused_naming_ttl,
    members_and_other_organizations_get_no_link,
);

async fn an_owner_gets_a_link_to_the_console_over_grpc_with_the_token_in_its_fragment(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let before = chrono::Utc::now().timestamp();

    let link = app
        .create_portal_link(&app.token("OWNER"), None)
        .await
        .unwrap();

    let prefix = format!("{}/console/#token=", app.http_url());
    assert!(link.url.starts_with(&prefix), "{}", link.url);
    let (header, claims) = jwt_parts(&token_of_link(&link.url));
    assert_eq!(header["typ"], "portal+jwt");
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["iss"], "webhook-service");
    assert_eq!(claims["aud"], "webhook-console");
    assert_eq!(claims["sub"], "user-42");
    assert_eq!(claims["org_id"], app.organization.to_string());
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    // Unset, a link works for 15 minutes.
    let expires_at = link.expires_at.expect("expires_at");
    assert_eq!(claims["exp"], expires_at.seconds);
    let lifetime = expires_at.seconds - before;
    assert!((899..=901).contains(&lifetime), "{lifetime}");
}

async fn an_admin_gets_a_link_over_rest_answered_201(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = chrono::Utc::now();

    let answer = app
        .rest()
        .call(
            "POST",
            &app.org_path("/portalLinks"),
            Some(&app.token("ADMIN")),
            Some(&json!({"ttl": "600s"})),
        )
        .await;

    assert_eq!(answer.status, 201, "{answer:?}");
    let url = answer.body["url"].as_str().expect("a url");
    assert!(url.starts_with(&format!("{}/console/#token=", app.http_url())));
    let expires_at = answer.body["expiresAt"].as_str().expect("expiresAt");
    assert!(expires_at.ends_with('Z'), "{expires_at}");
    let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at).unwrap();
    let lifetime = (expires_at.to_utc() - before).num_seconds();
    assert!((599..=601).contains(&lifetime), "{lifetime}");
    let (_, claims) = jwt_parts(&token_of_link(url));
    assert_eq!(claims["exp"], expires_at.timestamp());
}

async fn a_ttl_over_the_maximum_not_positive_or_fractional_is_refused_naming_ttl(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.portal_max_ttl = Duration::from_secs(1800)).await;
    let token = app.token("OWNER");
    let rest = app.rest();
    for (ttl, why) in [
        ("1801s", "at most 1800s"),
        ("0s", "longer than 0s"),
        ("-60s", "longer than 0s"),
        ("1.5s", "whole number of seconds"),
    ] {
        let body = json!({ "ttl": ttl });
        let answer = rest
            .call(
                "POST",
                &app.org_path("/portalLinks"),
                Some(&token),
                Some(&body),
            )
            .await;
        assert_eq!(answer.status, 400, "{ttl}: {answer:?}");
        let violations = answer.violations();
        assert_eq!(violations.len(), 1, "{ttl}: {violations:?}");
        assert_eq!(violations[0].0, "ttl");
        assert!(violations[0].1.contains(why), "{ttl}: {violations:?}");
    }
    let too_long = pbjson_types::Duration {
        seconds: 1801,
        nanos: 0,
    };
    let refused = app
        .create_portal_link(&token, Some(too_long))
        .await
        .unwrap_err();
    assert_field_violation(&refused, "ttl");
    // The maximum itself is fine, and so is leaving it out under a short one.
    let longest = pbjson_types::Duration {
        seconds: 1800,
        nanos: 0,
    };
    assert!(app.create_portal_link(&token, Some(longest)).await.is_ok());
}

async fn members_and_other_organizations_get_no_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let member = app
        .create_portal_link(&app.token("MEMBER"), None)
        .await
        .unwrap_err();
    assert_eq!(member.code(), Code::PermissionDenied, "{member:?}");
    assert_eq!(
        member.message(),
        "only owners and admins can create portal links"
    );
    let stranger = app.token_for(uuid::Uuid::new_v4(), "OWNER");
    let answer = app
        .rest()
        .call("POST", &app.org_path("/portalLinks"), Some(&stranger), None)
        .await;
    assert_eq!(answer.status, 403, "{answer:?}");
    let bad_org = app
        .rest()
        .call(
            "POST",
            "/v1/organizations/acme/portalLinks",
            Some(&app.token("OWNER")),
            None,
        )
        .await;
    assert_eq!(bad_org.status, 400, "{bad_org:?}");
    assert_eq!(bad_org.violations()[0].0, "organizationId");
    let anonymous = app
        .rest()
        .call("POST", &app.org_path("/portalLinks"), None, None)
        .await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
}

#[tokio::test]
async fn the_public_url_setting_is_the_base_of_every_link() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.public_url = Some("https://hooks.example.com/webhooks".into());
    })
    .await;
    let link = app
        .create_portal_link(&app.token("OWNER"), None)
        .await
        .unwrap();
    assert!(
        link.url
            .starts_with("https://hooks.example.com/webhooks/console/#token="),
        "{}",
        link.url
    );
}

#[tokio::test]
async fn a_short_maximum_is_also_the_default() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.portal_max_ttl = Duration::from_secs(60)
    })
    .await;
    let before = chrono::Utc::now().timestamp();
    let link = app
        .create_portal_link(&app.token("OWNER"), None)
        .await
        .unwrap();
    let lifetime = link.expires_at.unwrap().seconds - before;
    assert!((59..=61).contains(&lifetime), "{lifetime}");
}

#[tokio::test]
async fn without_the_rest_listener_there_is_no_console_to_link_to() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.http_addr = ListenAddr::Off).await;
    let refused = app
        .create_portal_link(&app.token("OWNER"), None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("WEBHOOK_HTTP_ADDR"),
        "{refused:?}"
    );
}

#[test]
fn a_portal_key_shorter_than_32_bytes_stops_the_binary_naming_the_setting() {
    let stderr = cli::start_failure(&[
        ("JWT_SECRET", JWT_SECRET),
        ("WEBHOOK_PORTAL_KEY", "only-31-bytes-long-0123456789ab"),
    ]);
    assert!(stderr.contains("WEBHOOK_PORTAL_KEY"), "{stderr}");
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
}

#[tokio::test]
async fn a_portal_key_equal_to_jwt_secret_is_refused_at_start_up() {
    let error = start_failure(|s| s.portal_key = Some(JWT_SECRET.into())).await;
    assert!(
        error.contains("WEBHOOK_PORTAL_KEY must differ from JWT_SECRET"),
        "{error}"
    );
}
