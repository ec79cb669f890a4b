//! Who may manage webhooks, and what ids of other organizations reveal.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::listing::list_page;
use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{
    Backend, TestApp, authorized, deliver_to, field_mask, platform_token, publisher_token,
    service_token, signature_entries, spawn_app, spawn_app_with, standard_signature,
};
use webhook_service::grpc::proto::{
    CreateWebhookRequest, DeleteWebhookRequest, DeliveryStatus, GetDeliveryRequest,
    GetWebhookRequest, ListDeliveriesRequest, ListEventTypesRequest, ListWebhooksRequest,
    RecoverWebhookRequest, RetryDeliveryRequest, RotateWebhookSecretRequest, SendTestEventRequest,
    TestWebhookFilterRequest, UpdateWebhookRequest, Webhook,
};

on_every_backend!(
    ids_of_another_organization_are_not_found,
    a_member_or_another_organization_is_permission_denied_on_every_rpc_but_list_event_types,
    list_event_types_returns_the_thirteen_types_to_any_authenticated_caller,
    a_member_asking_for_an_unknown_status_is_permission_denied,
);

const WAIT: Duration = Duration::from_secs(10);

use crate::support::BUILT_IN_TYPES as EVENT_TYPES;

/// A webhook subscribed to `member.added` at `/{path}` with one succeeded
/// delivery: `(webhook, secret, delivery id)`.
async fn webhook_with_a_delivery(
    app: &TestApp,
    receiver: &Receiver,
    path: &str,
) -> (Webhook, String, String) {
    let created = app.subscribe(&receiver.url(path), &["member.added"]).await;
    let webhook = created.webhook.unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for(path, 1, WAIT).await;
    app.wait_until_settled(WAIT).await;
    let deliveries = app.deliveries_of(&webhook.id).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    (webhook, created.secret, deliveries[0].id.clone())
}

fn done<T>(result: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    result.map(|_| ())
}

/// Calls every RPC of WebhookService that names an organization, as `token`
/// for `organization`, on `webhook_id` and `delivery_id`.
async fn call_every_rpc(
    app: &TestApp,
    token: &str,
    organization: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Vec<(&'static str, Result<(), Status>)> {
    let mut client = app.webhooks().await;
    let mut results = Vec::new();
    let request = CreateWebhookRequest {
        organization_id: organization.to_owned(),
        // Its own URL on each call: a second caller is not ALREADY_EXISTS.
        url: format!("https://hooks.example.com/intruder/{}", Uuid::new_v4()),
        events: vec!["oauth_app.revoked".into()],
        ..Default::default()
    };
    let result = client.create_webhook(authorized(request, token)).await;
    results.push(("CreateWebhook", done(result)));
    let request = ListWebhooksRequest {
        organization_id: organization.to_owned(),
        ..Default::default()
    };
    let result = client.list_webhooks(authorized(request, token)).await;
    results.push(("ListWebhooks", done(result)));
    let request = ListDeliveriesRequest {
        organization_id: organization.to_owned(),
        ..Default::default()
    };
    let result = client.list_deliveries(authorized(request, token)).await;
    results.push(("ListDeliveries", done(result)));
    results.extend(call_rpcs_on_ids(app, token, organization, webhook_id, delivery_id).await);
    results
}

/// Calls every RPC of WebhookService that names a webhook or a delivery, as
/// `token` for `organization`; DeleteWebhook last.
async fn call_rpcs_on_ids(
    app: &TestApp,
    token: &str,
    organization: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Vec<(&'static str, Result<(), Status>)> {
    let mut client = app.webhooks().await;
    let org = || organization.to_owned();
    let webhook = || webhook_id.to_owned();
    let delivery = || delivery_id.to_owned();
    let mut results = Vec::new();
    let request = GetWebhookRequest {
        organization_id: org(),
        webhook_id: webhook(),
    };
    let result = client.get_webhook(authorized(request, token)).await;
    results.push(("GetWebhook", done(result)));
    let request = UpdateWebhookRequest {
        organization_id: org(),
        webhook_id: webhook(),
        description: "hijacked".into(),
        update_mask: field_mask(&["description"]),
        ..Default::default()
    };
    let result = client.update_webhook(authorized(request, token)).await;
    results.push(("UpdateWebhook", done(result)));
    let request = RotateWebhookSecretRequest {
        organization_id: org(),
        webhook_id: webhook(),
    };
    let result = client
        .rotate_webhook_secret(authorized(request, token))
        .await;
    results.push(("RotateWebhookSecret", done(result)));
    let request = GetDeliveryRequest {
        organization_id: org(),
        delivery_id: delivery(),
    };
    let result = client.get_delivery(authorized(request, token)).await;
    results.push(("GetDelivery", done(result)));
    let request = RetryDeliveryRequest {
        organization_id: org(),
        delivery_id: delivery(),
    };
    let result = client.retry_delivery(authorized(request, token)).await;
    results.push(("RetryDelivery", done(result)));
    let request = SendTestEventRequest {
        organization_id: org(),
        webhook_id: webhook(),
    };
    let result = client.send_test_event(authorized(request, token)).await;
    results.push(("SendTestEvent", done(result)));
    let request = TestWebhookFilterRequest {
        organization_id: org(),
        webhook_id: webhook(),
        r#type: "member.added".into(),
        ..Default::default()
    };
    let result = client.test_webhook_filter(authorized(request, token)).await;
    results.push(("TestWebhookFilter", done(result)));
    let request = RecoverWebhookRequest {
        organization_id: org(),
        webhook_id: webhook(),
        since: Some(webhook_service::grpc::timestamp::Timestamp::default()),
    };
    let result = client.recover_webhook(authorized(request, token)).await;
    results.push(("RecoverWebhook", done(result)));
    let request = DeleteWebhookRequest {
        organization_id: org(),
        webhook_id: webhook(),
    };
    let result = client.delete_webhook(authorized(request, token)).await;
    results.push(("DeleteWebhook", done(result)));
    results
}

/// Asserts every call but those in `except` failed with `code`.
fn assert_all(results: &[(&str, Result<(), Status>)], code: Code, except: &[&str]) {
    for (rpc, result) in results {
        if except.contains(rpc) {
            continue;
        }
        match result {
            Err(status) => assert_eq!(status.code(), code, "{rpc}: {status:?}"),
            Ok(()) => panic!("{rpc} answered OK, expected {code:?}"),
        }
    }
}

async fn ids_of_another_organization_are_not_found(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let (webhook, secret, delivery_id) = webhook_with_a_delivery(&app, &receiver, "/a").await;
    let before = app.get_webhook(&webhook.id).await.unwrap();

    let other = Uuid::new_v4();
    let other_owner = app.token_for(other, "OWNER");
    let results = call_every_rpc(
        &app,
        &other_owner,
        &other.to_string(),
        &webhook.id,
        &delivery_id,
    )
    .await;
    assert_eq!(results.len(), 12);
    assert_all(
        &results,
        Code::NotFound,
        &["CreateWebhook", "ListWebhooks", "ListDeliveries"],
    );

    // Organization B's lists do not show A's webhook or delivery.
    let mut client = app.webhooks().await;
    let listed = client
        .list_webhooks(authorized(
            ListWebhooksRequest {
                organization_id: other.to_string(),
                ..Default::default()
            },
            &other_owner,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.webhooks.iter().all(|w| w.id != webhook.id),
        "{listed:?}"
    );
    for webhook_id in [String::new(), webhook.id.clone()] {
        let listed = client
            .list_deliveries(authorized(
                ListDeliveriesRequest {
                    organization_id: other.to_string(),
                    webhook_id,
                    ..Default::default()
                },
                &other_owner,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(listed.deliveries.is_empty(), "{listed:?}");
    }

    // Ids nobody has: NOT_FOUND too, for A's own owner.
    let results = call_rpcs_on_ids(
        &app,
        &app.token("OWNER"),
        &app.organization.to_string(),
        &Uuid::new_v4().to_string(),
        &Uuid::new_v4().to_string(),
    )
    .await;
    assert_eq!(results.len(), 9);
    assert_all(&results, Code::NotFound, &[]);

    // A's webhook is untouched: same fields, same secret, no ping, no retry.
    assert_eq!(app.get_webhook(&webhook.id).await.unwrap(), before);
    let delivery = app.get_delivery(&delivery_id).await.unwrap();
    assert_eq!(delivery.status(), DeliveryStatus::Succeeded);
    assert_eq!(delivery.attempt_count, 1);
    app.publish("member.added", json!({"n": 2}), "")
        .await
        .unwrap();
    let got = receiver.wait_for("/a", 2, WAIT).await;
    app.wait_until_settled(WAIT).await;
    assert_eq!(
        signature_entries(&got[1]),
        [standard_signature(&secret, &got[1])]
    );
    assert_eq!(receiver.received("/a").len(), 2, "an extra request arrived");
    for request in &got {
        assert_eq!(request.json()["type"], "member.added");
    }
}

async fn a_member_or_another_organization_is_permission_denied_on_every_rpc_but_list_event_types(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let (webhook, _secret, delivery_id) = webhook_with_a_delivery(&app, &receiver, "/p").await;
    let before = app.get_webhook(&webhook.id).await.unwrap();
    let organization = app.organization.to_string();

    for token in [
        app.token("MEMBER"),
        app.token_for(Uuid::new_v4(), "OWNER"),
        app.token_for(Uuid::new_v4(), "ADMIN"),
        publisher_token(),
        service_token("platform-backend", "webhooks:read", 3600),
    ] {
        let results = call_every_rpc(&app, &token, &organization, &webhook.id, &delivery_id).await;
        assert_eq!(results.len(), 12);
        assert_all(&results, Code::PermissionDenied, &[]);
        let types = app
            .webhooks()
            .await
            .list_event_types(authorized(ListEventTypesRequest::default(), &token))
            .await;
        assert!(types.is_ok(), "{types:?}");
    }

    // Nothing happened: the webhook is as it was, no new webhook, no ping.
    assert_eq!(app.get_webhook(&webhook.id).await.unwrap(), before);
    let listed = list_page(&app, 0, "").await.unwrap();
    assert_eq!(listed.webhooks.len(), 1, "{listed:?}");
    let deliveries = app.deliveries_of(&webhook.id).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].attempt_count, 1);

    // An ADMIN of the organization may, and so may a platform token (scope
    // webhooks:admin, no organization), each on a webhook of its own.
    let (second, _, second_delivery) = webhook_with_a_delivery(&app, &receiver, "/q").await;
    for (who, token, webhook_id, delivery_id) in [
        ("ADMIN", app.token("ADMIN"), &webhook.id, &delivery_id),
        ("platform", platform_token(), &second.id, &second_delivery),
    ] {
        let results = call_every_rpc(&app, &token, &organization, webhook_id, delivery_id).await;
        for (rpc, result) in &results {
            assert!(result.is_ok(), "{who} {rpc}: {result:?}");
        }
    }
}

async fn list_event_types_returns_the_thirteen_types_to_any_authenticated_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut orders = Vec::new();
    for token in [
        app.token("MEMBER"),
        app.token("OWNER"),
        app.token_for(Uuid::new_v4(), "ADMIN"),
        publisher_token(),
    ] {
        let types = app
            .webhooks()
            .await
            .list_event_types(authorized(ListEventTypesRequest::default(), &token))
            .await
            .expect("list event types")
            .into_inner()
            .event_types;
        let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
        let distinct: HashSet<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(names.len(), 13, "{names:?}");
        assert_eq!(distinct, HashSet::from(EVENT_TYPES), "{names:?}");
        for t in &types {
            assert!(
                !t.description.trim().is_empty(),
                "{} has no description",
                t.name
            );
        }
        orders.push(names);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "the order changes: {orders:?}"
    );

    let status = app
        .webhooks()
        .await
        .list_event_types(ListEventTypesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

async fn a_member_asking_for_an_unknown_status_is_permission_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    let request = ListDeliveriesRequest {
        organization_id: app.organization.to_string(),
        status: 99,
        ..Default::default()
    };
    let status = app
        .webhooks()
        .await
        .list_deliveries(authorized(request.clone(), &app.token("MEMBER")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // An owner learns what is wrong.
    let status = app
        .webhooks()
        .await
        .list_deliveries(authorized(request, &app.token("OWNER")))
        .await
        .unwrap_err();
    crate::support::assert_field_violation(&status, "status");
}
