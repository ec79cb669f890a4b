use base64::{Engine, engine::general_purpose::STANDARD};
use sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

use crate::on_every_backend;
use crate::support::{Backend, assert_field_violation, authorized, spawn_app, spawn_app_with};

on_every_backend!(
    an_owner_creates_a_webhook_and_gets_its_secret,
    an_admin_creates_a_webhook,
    duplicate_events_are_stored_once,
    two_webhooks_get_different_secrets,
    a_url_already_registered_in_the_organization_is_already_exists,
    another_organization_may_register_the_same_url,
    each_bad_url_class_is_invalid_argument_on_url,
    bad_events_are_invalid_argument_on_events,
    a_bad_organization_id_is_invalid_argument_on_organization_id,
    every_bad_field_is_reported_at_once,
    a_description_given_on_creation_is_stored,
    the_development_setting_admits_private_targets,
    secrets_are_stored_encrypted_when_a_key_is_set,
);

async fn an_owner_creates_a_webhook_and_gets_its_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .create_webhook(app.create_request(
            "https://hooks.example.com/in",
            &["member.added", "webhook.created"],
        ))
        .await
        .expect("created");

    let webhook = response.webhook.expect("webhook in response");
    assert!(uuid::Uuid::parse_str(&webhook.id).is_ok(), "{}", webhook.id);
    assert_eq!(webhook.organization_id, app.organization.to_string());
    assert_eq!(webhook.url, "https://hooks.example.com/in");
    assert_eq!(webhook.events, ["member.added", "webhook.created"]);
    let created = webhook.created_at.expect("created_at");
    let age = chrono::Utc::now().timestamp() - created.seconds;
    assert!((0..60).contains(&age), "created_at is {age}s old");

    let key = response
        .secret
        .strip_prefix("whsec_")
        .expect("whsec_ prefix");
    assert_eq!(STANDARD.decode(key).expect("standard base64").len(), 32);
}

async fn an_admin_creates_a_webhook(backend: Backend) {
    let app = spawn_app(backend).await;
    let request = app.create_request("https://hooks.example.com/a", &["member.added"]);
    let response = app
        .webhooks()
        .await
        .create_webhook(authorized(request, &app.token("ADMIN")))
        .await;
    assert!(response.is_ok(), "{response:?}");
}

async fn duplicate_events_are_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .create_webhook(app.create_request(
            "https://hooks.example.com/d",
            &["invite.created", "member.added", "invite.created"],
        ))
        .await
        .unwrap();
    assert_eq!(
        response.webhook.unwrap().events,
        ["invite.created", "member.added"]
    );
}

async fn two_webhooks_get_different_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .create_webhook(app.create_request("https://a.example.com/", &["member.added"]))
        .await
        .unwrap();
    let b = app
        .create_webhook(app.create_request("https://b.example.com/", &["member.added"]))
        .await
        .unwrap();
    assert_ne!(a.secret, b.secret);
    assert_ne!(a.webhook.unwrap().id, b.webhook.unwrap().id);
}

async fn a_url_already_registered_in_the_organization_is_already_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let request = app.create_request("https://hooks.example.com/same", &["member.added"]);
    app.create_webhook(request.clone()).await.unwrap();
    let status = app.create_webhook(request).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
}

async fn another_organization_may_register_the_same_url(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = "https://hooks.example.com/shared";
    app.create_webhook(app.create_request(url, &["member.added"]))
        .await
        .unwrap();

    let other = uuid::Uuid::new_v4();
    let mut request = app.create_request(url, &["member.added"]);
    request.organization_id = other.to_string();
    let response = app
        .webhooks()
        .await
        .create_webhook(authorized(request, &app.token_for(other, "OWNER")))
        .await;
    assert!(response.is_ok(), "{response:?}");
}

async fn each_bad_url_class_is_invalid_argument_on_url(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = format!("https://example.com/{}", "a".repeat(2048));
    let bad_urls = [
        ("", "empty"),
        ("not a url", "malformed"),
        ("/relative", "relative"),
        ("http://example.com/hook", "plain http"),
        ("ftp://example.com/hook", "other scheme"),
        ("https://user:pw@example.com/hook", "credentials"),
        (too_long.as_str(), "too long"),
        ("https://localhost/hook", "localhost"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://2130706433/hook", "loopback, decimal spelling"),
        ("https://10.1.2.3/hook", "private 10/8"),
        ("https://172.20.0.1/hook", "private 172.16/12"),
        ("https://192.168.1.1/hook", "private 192.168/16"),
        ("https://169.254.169.254/latest", "link-local metadata"),
        ("https://100.64.0.1/hook", "CGNAT"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://255.255.255.255/hook", "broadcast"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://[::1]/hook", "IPv6 loopback"),
        ("https://[fe80::1]/hook", "IPv6 link-local"),
        ("https://[fd00::1]/hook", "IPv6 unique-local"),
        ("https://[ff02::1]/hook", "IPv6 multicast"),
        ("https://[::]/hook", "IPv6 unspecified"),
        ("https://[::ffff:127.0.0.1]/hook", "IPv4-mapped loopback"),
        ("https://[::ffff:a9fe:a9fe]/hook", "IPv4-mapped metadata"),
    ];
    for (url, class) in bad_urls {
        let status = app
            .create_webhook(app.create_request(url, &["member.added"]))
            .await
            .expect_err(class);
        let description = assert_field_violation(&status, "url");
        assert!(!description.is_empty(), "{class}");
    }
}

async fn bad_events_are_invalid_argument_on_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases: [(&[&str], &str); 4] = [
        (&[], "at least one"),
        (&["member.exploded"], "member.exploded"),
        (&["member.added", "Member.Added"], "Member.Added"),
        (&[""], "unknown"),
    ];
    for (events, expected) in cases {
        let status = app
            .create_webhook(app.create_request("https://hooks.example.com/e", events))
            .await
            .unwrap_err();
        let description = assert_field_violation(&status, "events");
        assert!(description.contains(expected), "{events:?}: {description}");
    }
}

async fn a_bad_organization_id_is_invalid_argument_on_organization_id(backend: Backend) {
    let app = spawn_app(backend).await;
    for bad in ["", "acme", "1234"] {
        let mut request = app.create_request("https://hooks.example.com/o", &["member.added"]);
        request.organization_id = bad.to_owned();
        let status = app.create_webhook(request).await.unwrap_err();
        assert_field_violation(&status, "organization_id");
    }
}

async fn every_bad_field_is_reported_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = app.create_request("http://example.com", &["nope"]);
    request.organization_id = "not-a-uuid".into();
    request.description = "x".repeat(501);
    let status = app.create_webhook(request).await.unwrap_err();
    for field in ["organization_id", "url", "events", "description"] {
        assert_field_violation(&status, field);
    }
}

async fn a_description_given_on_creation_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = app.create_request("https://hooks.example.com/d", &["member.added"]);
    request.description = "Billing's endpoint, é".repeat(20);
    let created = app.create_webhook(request.clone()).await.expect("created");
    let webhook = created.webhook.unwrap();
    assert_eq!(webhook.description, request.description);
    let read = app.get_webhook(&webhook.id).await.unwrap();
    assert_eq!(read.description, request.description);
}

async fn the_development_setting_admits_private_targets(backend: Backend) {
    let strict = spawn_app(backend).await;
    let request = strict.create_request("https://127.0.0.1:8443/hook", &["member.added"]);
    let status = strict.create_webhook(request).await.unwrap_err();
    assert_field_violation(&status, "url");

    let relaxed = spawn_app_with(backend, |s| s.allow_private_targets = true).await;
    let request = relaxed.create_request("https://127.0.0.1:8443/hook", &["member.added"]);
    assert!(relaxed.create_webhook(request).await.is_ok());
}

async fn secrets_are_stored_encrypted_when_a_key_is_set(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.encryption_key = Some(STANDARD.encode([9u8; 32]).into());
    })
    .await;
    let response = app
        .create_webhook(app.create_request("https://hooks.example.com/enc", &["member.added"]))
        .await
        .unwrap();

    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT secret FROM webhooks",
        ))
        .await
        .unwrap()
        .expect("one webhook row");
    let stored: String = row.try_get("", "secret").unwrap();
    let key = response.secret.strip_prefix("whsec_").unwrap();
    assert!(
        !stored.contains(key),
        "the secret is stored in clear: {stored}"
    );
}
