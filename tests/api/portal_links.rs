//! CreatePortalLink, over gRPC and REST: who may make a link, how long it
//! may work, what it looks like, and the settings around it.

use std::time::Duration;

use serde_json::json;
use tonic::Code;

use crate::cli;
use crate::on_every_backend;
use crate::support::portal::{jwt_parts, token_of_link};
use crate::support::{
    Backend, JWT_SECRET, TestApp, assert_field_violation, claims, hs256, spawn_app, spawn_app_with,
    start_failure,
};
use webhook_service::config::ListenAddr;

on_every_backend!(
    an_owner_gets_a_link_to_the_console_over_grpc_with_the_token_in_its_fragment,
    an_admin_gets_a_link_over_rest_answered_201,
    a_ttl_over_the_maximum_not_positive_or_fractional_is_refused_naming_ttl,
    members_and_other_organizations_get_no_link,
    a_link_never_outlives_the_token_that_made_it,
    a_token_in_its_leeway_gets_no_link_that_would_be_dead_on_arrival,
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

/// An ADMIN token of `app`'s organization whose `exp` is `exp` (unix seconds).
fn admin_token_until(app: &TestApp, exp: i64) -> String {
    let mut claims = claims(app.organization, "ADMIN");
    claims["exp"] = exp.into();
    hs256(&claims)
}

/// The status a REST listing of `app`'s webhooks gets with `token`, and
/// the wall-clock span (unix milliseconds) in which the service decided.
async fn listing_status(app: &TestApp, token: &str) -> (u16, i64, i64) {
    let sent = chrono::Utc::now().timestamp_millis();
    let answer = app
        .rest()
        .call("GET", &app.org_path("/webhooks"), Some(token), None)
        .await;
    (answer.status, sent, chrono::Utc::now().timestamp_millis())
}

async fn a_link_never_outlives_the_token_that_made_it(backend: Backend) {
    let app = spawn_app(backend).await;
    // The creator's token has 3 s left; it asks for an hour.
    let token_exp = chrono::Utc::now().timestamp() + 3;
    let hour = pbjson_types::Duration {
        seconds: 3600,
        nanos: 0,
    };
    let link = app
        .create_portal_link(&admin_token_until(&app, token_exp), Some(hour))
        .await
        .unwrap();

    let expires_at = link.expires_at.expect("expires_at").seconds;
    assert!(
        expires_at <= token_exp,
        "a link until {expires_at} made with a token until {token_exp}"
    );
    let portal = token_of_link(&link.url);
    let (_, claims) = jwt_parts(&portal);
    assert_eq!(
        claims["exp"], expires_at,
        "the answer tells the token's truth"
    );

    // It works until `expires_at` and not a moment after: asked every
    // 50 ms, the first refusal comes at `expires_at`, within a second.
    let end = expires_at * 1000;
    let refused_at = loop {
        let (status, sent, answered) = listing_status(&app, &portal).await;
        match status {
            200 => assert!(sent < end, "accepted at {sent} ms, after {end} ms"),
            401 => break (sent, answered),
            other => panic!("unexpected status {other}"),
        }
        assert!(
            sent < end + 1000,
            "still working at {sent} ms, past {end} ms"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        refused_at.1 >= end,
        "refused by {} ms, before {end} ms",
        refused_at.1
    );
    assert!(
        refused_at.0 < end + 1000,
        "refused only at {} ms",
        refused_at.0
    );
}

async fn a_token_in_its_leeway_gets_no_link_that_would_be_dead_on_arrival(backend: Backend) {
    let app = spawn_app(backend).await;
    // Past its `exp` but inside the 30 s leeway: still accepted.
    let lingering = admin_token_until(&app, chrono::Utc::now().timestamp() - 5);
    assert!(app.list_webhooks_as(&lingering).await.is_ok());

    let refused = app.create_portal_link(&lingering, None).await.unwrap_err();

    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("never outlives the token"),
        "{refused:?}"
    );
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
