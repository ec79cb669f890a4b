//! Platform tokens: a platform's own backend, with one client-credentials
//! token (`sub` and the `webhooks:admin` scope, no organization or role),
//! manages the webhooks of each of its customers' organizations and makes
//! their portal links; it publishes nothing without `events:publish`.

use std::collections::HashMap;

use serde_json::json;
use tonic::Code;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::portal::{jwt_parts, token_of_link};
use crate::support::{
    Backend, PLATFORM, TestApp, authorized, platform_token, publisher_token, service_token,
    spawn_app, to_struct,
};
use webhook_service::grpc::proto::{
    CreateWebhookRequest, ListWebhooksRequest, PublishEventRequest, Webhook,
};

on_every_backend!(
    a_platform_token_manages_the_webhooks_of_two_organizations_each_apart,
    a_platform_tokens_portal_link_acts_as_admin_of_its_organization_only,
    a_platform_tokens_portal_link_never_outlives_it,
    a_token_with_another_scope_is_refused_and_the_platform_scope_publishes_nothing,
);

/// CreateWebhook for `url` in `organization` with `token`.
async fn create(
    app: &TestApp,
    token: &str,
    organization: Uuid,
    url: &str,
) -> Result<Webhook, tonic::Status> {
    let request = CreateWebhookRequest {
        organization_id: organization.to_string(),
        url: url.to_owned(),
        events: vec!["member.added".into()],
        ..Default::default()
    };
    let created = app
        .webhooks()
        .await
        .create_webhook(authorized(request, token))
        .await?;
    Ok(created.into_inner().webhook.expect("a webhook"))
}

/// The URLs of `organization`'s webhooks, listed with `token`.
async fn urls_of(app: &TestApp, token: &str, organization: Uuid) -> Vec<String> {
    let request = ListWebhooksRequest {
        organization_id: organization.to_string(),
        ..Default::default()
    };
    let listed = app
        .webhooks()
        .await
        .list_webhooks(authorized(request, token))
        .await
        .expect("list webhooks")
        .into_inner();
    listed.webhooks.into_iter().map(|w| w.url).collect()
}

/// Each stored webhook's `created_by`, by URL.
async fn creators(app: &TestApp) -> HashMap<String, String> {
    app.query("SELECT url, created_by FROM webhooks")
        .await
        .iter()
        .map(|row| {
            (
                row.try_get("", "url").unwrap(),
                row.try_get("", "created_by").unwrap(),
            )
        })
        .collect()
}

async fn a_platform_token_manages_the_webhooks_of_two_organizations_each_apart(backend: Backend) {
    let app = spawn_app(backend).await;
    let platform = platform_token();
    let (first, second) = (app.organization, Uuid::new_v4());
    // What an organization's own owner made is the platform's to see too.
    app.subscribe("https://hooks.example.com/own", &["member.added"])
        .await;

    for (organization, url) in [
        (first, "https://hooks.example.com/first"),
        (second, "https://hooks.example.com/second"),
    ] {
        let webhook = create(&app, &platform, organization, url).await.unwrap();
        assert_eq!(webhook.organization_id, organization.to_string());
    }

    let mut listed = urls_of(&app, &platform, first).await;
    listed.sort();
    assert_eq!(
        listed,
        [
            "https://hooks.example.com/first",
            "https://hooks.example.com/own"
        ]
    );
    assert_eq!(
        urls_of(&app, &platform, second).await,
        ["https://hooks.example.com/second"]
    );
    // The organizations' own owners see the same, each only theirs.
    assert_eq!(
        urls_of(&app, &app.token_for(second, "OWNER"), second).await,
        ["https://hooks.example.com/second"]
    );

    let creators = creators(&app).await;
    assert_eq!(creators["https://hooks.example.com/first"], PLATFORM);
    assert_eq!(creators["https://hooks.example.com/second"], PLATFORM);
    assert_eq!(creators["https://hooks.example.com/own"], "user-42");

    for organization in [first, second] {
        let link = app
            .create_portal_link_for(organization, &platform, None)
            .await
            .unwrap();
        let (_, claims) = jwt_parts(&token_of_link(&link.url));
        assert_eq!(claims["org_id"], organization.to_string());
        assert_eq!(claims["sub"], PLATFORM, "the link names who made it");
    }
}

async fn a_platform_tokens_portal_link_acts_as_admin_of_its_organization_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = Uuid::new_v4();
    let platform = platform_token();
    create(
        &app,
        &platform,
        customer,
        "https://hooks.example.com/theirs",
    )
    .await
    .unwrap();
    app.subscribe("https://hooks.example.com/elsewhere", &["member.added"])
        .await;
    let link = app
        .create_portal_link_for(customer, &platform, None)
        .await
        .unwrap();
    let token = token_of_link(&link.url);
    let rest = app.rest();
    let theirs = format!("/v1/organizations/{customer}/webhooks");

    let listed = rest.call("GET", &theirs, Some(&token), None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let urls: Vec<&str> = listed.body["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, ["https://hooks.example.com/theirs"]);
    let body = json!({"url": "https://hooks.example.com/by-link", "events": ["member.added"]});
    let created = rest.call("POST", &theirs, Some(&token), Some(&body)).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        creators(&app).await["https://hooks.example.com/by-link"],
        PLATFORM
    );

    // Another organization, this app's: refused, as for any admin of one.
    let refused = rest
        .call("GET", &app.org_path("/webhooks"), Some(&token), None)
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let refused = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    // And the platform's power stays with the platform's token.
    let link = rest
        .call(
            "POST",
            &format!("/v1/organizations/{customer}/portalLinks"),
            Some(&token),
            Some(&json!({"ttl": "60s"})),
        )
        .await;
    assert_eq!(link.status, 403, "{link:?}");
}

async fn a_platform_tokens_portal_link_never_outlives_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let platform = service_token(PLATFORM, "webhooks:admin", 120);
    let (_, claims) = jwt_parts(&platform);
    let asked = pbjson_types::Duration {
        seconds: 3600,
        nanos: 0,
    };
    let link = app
        .create_portal_link_for(Uuid::new_v4(), &platform, Some(asked))
        .await
        .unwrap();
    assert_eq!(link.expires_at.unwrap().seconds, claims["exp"]);
}

async fn a_token_with_another_scope_is_refused_and_the_platform_scope_publishes_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let url = "https://hooks.example.com/nope";
    for token in [
        publisher_token(),
        service_token(PLATFORM, "webhooks:read", 3600),
        service_token(PLATFORM, "webhooks:admin:sandbox", 3600),
    ] {
        let refused = create(&app, &token, app.organization, url)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        let refused = app.create_portal_link(&token, None).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        let refused = app.create_over_rest(Some(&token), &json!({})).await;
        assert_eq!(refused.status, 403, "{refused:?}");
    }

    let event = PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "member.added".into(),
        data: Some(to_struct(json!({}))),
        ..Default::default()
    };
    let refused = app
        .events()
        .await
        .publish_event(authorized(event.clone(), &platform_token()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(
        refused.message(),
        "publishing events needs a token with the events:publish scope"
    );
    // With both scopes, it may do both.
    let both = service_token(PLATFORM, "webhooks:admin events:publish", 3600);
    create(&app, &both, app.organization, url).await.unwrap();
    let published = app
        .events()
        .await
        .publish_event(authorized(event, &both))
        .await;
    assert!(published.is_ok(), "{published:?}");
}
