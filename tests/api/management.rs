//! Managing webhooks: listing, reading, changing, pausing, deleting, rotating
//! secrets, and who may do any of it.

use std::collections::HashSet;
use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, field_mask, legacy_signature,
    publisher_token, signature_entries, spawn_app, spawn_app_with, standard_signature, time,
};
use webhook_service::grpc::proto::{
    CreateWebhookRequest, DeleteWebhookRequest, DeliveryStatus, GetDeliveryRequest,
    GetWebhookRequest, ListDeliveriesRequest, ListEventTypesRequest, ListWebhooksRequest,
    ListWebhooksResponse, RetryDeliveryRequest, RotateWebhookSecretRequest, SendTestEventRequest,
    UpdateWebhookRequest, Webhook,
};

on_every_backend!(
    list_webhooks_walks_every_webhook_once_newest_first_while_new_ones_are_created,
    list_webhooks_pages_hold_50_by_default_and_at_most_200,
    a_garbage_page_token_or_negative_page_size_is_invalid_argument,
    get_webhook_returns_the_webhook_enabled_with_an_empty_description,
    update_webhook_needs_a_mask_naming_only_known_fields,
    update_webhook_checks_the_fields_it_changes_like_create_webhook,
    update_webhook_changes_only_the_fields_in_its_mask,
    updating_to_the_url_of_another_webhook_is_already_exists,
    update_webhook_moves_updated_at_forward,
    a_paused_webhook_holds_its_deliveries_and_resuming_sends_them,
    deleting_a_webhook_cancels_its_pending_deliveries,
    after_rotation_deliveries_are_signed_with_both_secrets_during_the_grace_period,
    after_the_grace_period_only_the_new_secret_signs,
    ids_of_another_organization_are_not_found,
    a_member_or_another_organization_is_permission_denied_on_every_rpc_but_list_event_types,
    list_event_types_returns_the_twelve_types_to_any_authenticated_caller,
);

const WAIT: Duration = Duration::from_secs(10);

const EVENT_TYPES: [&str; 12] = [
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "member.added",
    "member.removed",
    "member.role_updated",
    "invite.created",
    "invite.accepted",
    "invite.cancelled",
    "oauth_app.created",
    "oauth_app.revoked",
    "webhook.created",
];

async fn list_page(
    app: &TestApp,
    page_size: i32,
    page_token: &str,
) -> Result<ListWebhooksResponse, Status> {
    let request = ListWebhooksRequest {
        organization_id: app.organization.to_string(),
        page_size,
        page_token: page_token.to_owned(),
    };
    app.webhooks()
        .await
        .list_webhooks(authorized(request, &app.token("OWNER")))
        .await
        .map(|r| r.into_inner())
}

/// Creates `count` webhooks at distinct URLs under `prefix`, oldest first,
/// a few milliseconds apart so their creation order is unambiguous.
async fn create_webhooks(app: &TestApp, prefix: &str, count: usize, gap: Duration) -> Vec<Webhook> {
    let mut created = Vec::new();
    for i in 0..count {
        let url = format!("https://hooks.example.com/{prefix}/{i}");
        created.push(
            app.subscribe(&url, &["member.added"])
                .await
                .webhook
                .unwrap(),
        );
        tokio::time::sleep(gap).await;
    }
    created
}

async fn list_webhooks_walks_every_webhook_once_newest_first_while_new_ones_are_created(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let originals = create_webhooks(&app, "original", 7, Duration::from_millis(5)).await;
    let original_ids: Vec<String> = originals.iter().map(|w| w.id.clone()).collect();

    let mut seen: Vec<Webhook> = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list_page(&app, 3, &token).await.expect("list webhooks");
        pages += 1;
        assert!(page.webhooks.len() <= 3, "page of {}", page.webhooks.len());
        if pages == 1 {
            assert_eq!(page.webhooks.len(), 3, "the first page is full");
        }
        seen.extend(page.webhooks);
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages < 20, "the pages never end");
        token = page.next_page_token;
        // Newer than everything listed so far: must not shift the next page.
        create_webhooks(&app, &format!("new-{pages}"), 2, Duration::from_millis(5)).await;
    }

    let seen_ids: Vec<String> = seen.iter().map(|w| w.id.clone()).collect();
    let distinct: HashSet<&String> = seen_ids.iter().collect();
    assert_eq!(distinct.len(), seen_ids.len(), "duplicates: {seen_ids:?}");
    let originals_seen: Vec<String> = seen_ids
        .iter()
        .filter(|id| original_ids.contains(id))
        .cloned()
        .collect();
    let newest_first: Vec<String> = original_ids.iter().rev().cloned().collect();
    assert_eq!(
        originals_seen, newest_first,
        "each original once, newest first"
    );
    for pair in seen.windows(2) {
        assert!(
            time(&pair[0].created_at) >= time(&pair[1].created_at),
            "not newest first: {pair:?}"
        );
    }
    // Nothing in a listing carries the secret.
    let first = list_page(&app, 0, "").await.unwrap();
    let secret = app
        .subscribe("https://hooks.example.com/secret", &["member.added"])
        .await
        .secret;
    let listed = list_page(&app, 0, "").await.unwrap();
    assert_eq!(listed.webhooks.len(), first.webhooks.len() + 1);
    let key = secret.strip_prefix("whsec_").unwrap();
    assert!(!format!("{listed:?}").contains(key), "the secret leaked");
}

async fn list_webhooks_pages_hold_50_by_default_and_at_most_200(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_webhooks(&app, "many", 201, Duration::ZERO).await;

    let default = list_page(&app, 0, "").await.unwrap();
    assert_eq!(default.webhooks.len(), 50);
    assert!(!default.next_page_token.is_empty());

    let capped = list_page(&app, 1000, "").await.unwrap();
    assert_eq!(capped.webhooks.len(), 200);
    assert!(!capped.next_page_token.is_empty());
    let rest = list_page(&app, 1000, &capped.next_page_token)
        .await
        .unwrap();
    assert_eq!(rest.webhooks.len(), 1);
    assert!(
        rest.next_page_token.is_empty(),
        "the last page has no token"
    );

    let listed: HashSet<String> = capped
        .webhooks
        .iter()
        .chain(&rest.webhooks)
        .map(|w| w.id.clone())
        .collect();
    let expected: HashSet<String> = created.iter().map(|w| w.id.clone()).collect();
    assert_eq!(listed, expected);
}

async fn a_garbage_page_token_or_negative_page_size_is_invalid_argument(backend: Backend) {
    let app = spawn_app(backend).await;
    create_webhooks(&app, "few", 3, Duration::ZERO).await;
    for garbage in ["garbage", "not-a-token!", "%%%"] {
        let status = list_page(&app, 2, garbage).await.unwrap_err();
        assert_field_violation(&status, "page_token");
    }
    let status = list_page(&app, -1, "").await.unwrap_err();
    assert_field_violation(&status, "page_size");
    // A token the RPC returned is fine.
    let first = list_page(&app, 2, "").await.unwrap();
    let second = list_page(&app, 2, &first.next_page_token).await.unwrap();
    assert_eq!(second.webhooks.len(), 1);
}

async fn get_webhook_returns_the_webhook_enabled_with_an_empty_description(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe(
            "https://hooks.example.com/get",
            &["member.added", "invite.created"],
        )
        .await
        .webhook
        .unwrap();
    let got = app.get_webhook(&created.id).await.expect("get webhook");
    assert_eq!(got.id, created.id);
    assert_eq!(got.organization_id, app.organization.to_string());
    assert_eq!(got.url, "https://hooks.example.com/get");
    assert_eq!(got.events, ["member.added", "invite.created"]);
    assert_eq!(got.created_at, created.created_at);
    assert!(got.enabled, "a new webhook is enabled");
    assert_eq!(got.description, "");
    assert!(time(&got.updated_at) >= time(&got.created_at));

    let status = app
        .get_webhook(&Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = app.get_webhook("not-a-uuid").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

fn update(webhook_id: &str, paths: &[&str]) -> UpdateWebhookRequest {
    UpdateWebhookRequest {
        webhook_id: webhook_id.to_owned(),
        update_mask: field_mask(paths),
        ..Default::default()
    }
}

async fn update_webhook_needs_a_mask_naming_only_known_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/mask", &["member.added"])
        .await
        .webhook
        .unwrap();
    let description = |request: UpdateWebhookRequest| UpdateWebhookRequest {
        description: "changed".into(),
        ..request
    };

    let before = app.get_webhook(&created.id).await.unwrap();
    let missing = UpdateWebhookRequest {
        update_mask: None,
        ..update(&created.id, &[])
    };
    for request in [
        missing,
        update(&created.id, &[]),
        update(&created.id, &["secret"]),
        update(&created.id, &["organization_id"]),
        update(&created.id, &["created_at"]),
        update(&created.id, &["description", "secret"]),
    ] {
        let paths = request.update_mask.clone();
        let status = app.update_webhook(description(request)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{paths:?}: {status:?}"
        );
        assert_field_violation(&status, "update_mask");
    }
    assert_eq!(
        app.get_webhook(&created.id).await.unwrap(),
        before,
        "a rejected update changed the webhook"
    );
}

async fn update_webhook_checks_the_fields_it_changes_like_create_webhook(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/check", &["member.added"])
        .await
        .webhook
        .unwrap();
    let before = app.get_webhook(&created.id).await.unwrap();

    for url in [
        "http://hooks.example.com/plain",
        "https://127.0.0.1/private",
        "not a url",
    ] {
        let request = UpdateWebhookRequest {
            url: url.into(),
            ..update(&created.id, &["url"])
        };
        let status = app.update_webhook(request).await.unwrap_err();
        assert_field_violation(&status, "url");
    }
    for events in [vec![], vec!["no.such_event".to_owned()]] {
        let request = UpdateWebhookRequest {
            events,
            ..update(&created.id, &["events"])
        };
        let status = app.update_webhook(request).await.unwrap_err();
        assert_field_violation(&status, "events");
    }
    let request = UpdateWebhookRequest {
        description: "a".repeat(501),
        ..update(&created.id, &["description"])
    };
    let status = app.update_webhook(request).await.unwrap_err();
    assert_field_violation(&status, "description");
    assert_eq!(
        app.get_webhook(&created.id).await.unwrap(),
        before,
        "a rejected update changed the webhook"
    );

    // 500 characters is the limit, counted in characters, not bytes.
    let longest = "é".repeat(500);
    let request = UpdateWebhookRequest {
        description: longest.clone(),
        ..update(&created.id, &["description"])
    };
    let updated = app.update_webhook(request).await.expect("500 characters");
    assert_eq!(updated.description, longest);

    let status = app
        .update_webhook(update(&Uuid::new_v4().to_string(), &["enabled"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

async fn update_webhook_changes_only_the_fields_in_its_mask(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/only", &["member.added"])
        .await
        .webhook
        .unwrap();

    // Every field set, only `description` named: an enabled=false or a bad
    // URL outside the mask is neither applied nor checked.
    let request = UpdateWebhookRequest {
        url: "https://hooks.example.com/elsewhere".into(),
        events: vec!["invite.created".into()],
        enabled: false,
        description: "Billing's endpoint".into(),
        ..update(&created.id, &["description"])
    };
    let updated = app.update_webhook(request).await.expect("update");
    assert_eq!(updated.description, "Billing's endpoint");
    assert_eq!(updated.url, "https://hooks.example.com/only");
    assert_eq!(updated.events, ["member.added"]);
    assert!(updated.enabled);
    assert_eq!(app.get_webhook(&created.id).await.unwrap(), updated);

    let request = UpdateWebhookRequest {
        url: "https://hooks.example.com/moved".into(),
        events: vec!["invite.created".into(), "member.removed".into()],
        description: "ignored".into(),
        ..update(&created.id, &["url", "events"])
    };
    let updated = app.update_webhook(request).await.expect("update");
    assert_eq!(updated.url, "https://hooks.example.com/moved");
    assert_eq!(updated.events, ["invite.created", "member.removed"]);
    assert_eq!(updated.description, "Billing's endpoint");
    assert!(updated.enabled);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(app.get_webhook(&created.id).await.unwrap(), updated);

    let request = UpdateWebhookRequest {
        url: "http://not-checked".into(),
        ..update(&created.id, &["enabled"])
    };
    let paused = app.update_webhook(request).await.expect("pause");
    assert!(!paused.enabled);
    assert_eq!(paused.url, "https://hooks.example.com/moved");
    assert_eq!(app.get_webhook(&created.id).await.unwrap(), paused);
}

async fn updating_to_the_url_of_another_webhook_is_already_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    app.subscribe("https://hooks.example.com/taken", &["member.added"])
        .await;
    let mine = app
        .subscribe("https://hooks.example.com/mine", &["member.added"])
        .await
        .webhook
        .unwrap();
    let request = UpdateWebhookRequest {
        url: "https://hooks.example.com/taken".into(),
        ..update(&mine.id, &["url"])
    };
    let status = app.update_webhook(request).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(
        app.get_webhook(&mine.id).await.unwrap().url,
        "https://hooks.example.com/mine"
    );
    // Its own URL is not "another webhook's".
    let request = UpdateWebhookRequest {
        url: "https://hooks.example.com/mine".into(),
        ..update(&mine.id, &["url"])
    };
    app.update_webhook(request).await.expect("same url");
}

async fn update_webhook_moves_updated_at_forward(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/time", &["member.added"])
        .await
        .webhook
        .unwrap();
    let before = app.get_webhook(&created.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let request = UpdateWebhookRequest {
        description: "later".into(),
        ..update(&created.id, &["description"])
    };
    let updated = app.update_webhook(request).await.unwrap();
    assert!(
        time(&updated.updated_at) > time(&before.updated_at),
        "{:?} then {:?}",
        before.updated_at,
        updated.updated_at
    );
    let age = chrono::Utc::now() - time(&updated.updated_at);
    assert!(age < chrono::Duration::seconds(60), "{age:?}");
    assert_eq!(updated.created_at, before.created_at);
    assert_eq!(
        app.get_webhook(&created.id).await.unwrap().updated_at,
        updated.updated_at
    );
}

async fn a_paused_webhook_holds_its_deliveries_and_resuming_sends_them(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1s,1s,1s".into();
    })
    .await;
    receiver.script("/paused", [Reply::status(500)]);
    let webhook = app
        .subscribe(&receiver.url("/paused"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let published = app
        .publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    receiver.wait_for("/paused", 1, WAIT).await;
    app.set_enabled(&webhook.id, false).await;

    let held = app
        .publish("member.added", json!({"n": 2}), "")
        .await
        .unwrap();
    assert_eq!(
        held.deliveries_scheduled, 0,
        "a paused webhook got a delivery"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        receiver.received("/paused").len(),
        1,
        "a paused webhook was retried"
    );
    let deliveries = app.deliveries_of(&webhook.id).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].status(), DeliveryStatus::Pending);
    assert_eq!(deliveries[0].attempt_count, 1);

    app.set_enabled(&webhook.id, true).await;
    let got = receiver.wait_for("/paused", 2, WAIT).await;
    assert_eq!(got[1].header("x-webhook-id"), published.event_id);
    assert_eq!(got[1].header("x-webhook-attempt"), "2");
    let delivered = app
        .wait_for_delivery(&deliveries[0].id, WAIT, |d| {
            d.status() != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(delivered.status(), DeliveryStatus::Succeeded);
    assert_eq!(delivered.attempt_count, 2);
    assert_eq!(app.deliveries_of(&webhook.id).await.len(), 1);
}

async fn deleting_a_webhook_cancels_its_pending_deliveries(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1s,1s,1s".into();
    })
    .await;
    receiver.script("/doomed", (0..4).map(|_| Reply::status(500)));
    let webhook = app
        .subscribe(&receiver.url("/doomed"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/doomed", 1, WAIT).await;
    let deliveries = app.deliveries_of(&webhook.id).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let delivery_id = deliveries[0].id.clone();
    // The first attempt is recorded and the retry is a second away.
    app.wait_for_delivery(&delivery_id, WAIT, |d| d.attempt_count >= 1)
        .await;

    let delete = |webhook_id: String| {
        let app = &app;
        async move {
            let request = DeleteWebhookRequest {
                organization_id: app.organization.to_string(),
                webhook_id,
            };
            app.webhooks()
                .await
                .delete_webhook(authorized(request, &app.token("OWNER")))
                .await
        }
    };
    delete(webhook.id.clone()).await.expect("delete");
    let sent = receiver.received("/doomed").len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        receiver.received("/doomed").len(),
        sent,
        "a deleted webhook was retried"
    );

    let cancelled = app.get_delivery(&delivery_id).await.expect("history stays");
    assert_eq!(cancelled.status(), DeliveryStatus::Cancelled);
    assert_eq!(cancelled.attempt_count as usize, sent);
    assert_eq!(cancelled.attempts.len(), sent);
    assert_eq!(cancelled.attempts[0].status_code, Some(500));
    let listed = app.deliveries_of(&webhook.id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status(), DeliveryStatus::Cancelled);

    let status = app.get_webhook(&webhook.id).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = delete(webhook.id.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = delete(Uuid::new_v4().to_string()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let retry = RetryDeliveryRequest {
        organization_id: app.organization.to_string(),
        delivery_id,
    };
    let status = app
        .webhooks()
        .await
        .retry_delivery(authorized(retry, &app.token("OWNER")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}

async fn rotate(
    app: &TestApp,
    webhook_id: &str,
) -> webhook_service::grpc::proto::RotateWebhookSecretResponse {
    let request = RotateWebhookSecretRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook_id.to_owned(),
    };
    app.webhooks()
        .await
        .rotate_webhook_secret(authorized(request, &app.token("OWNER")))
        .await
        .expect("rotate")
        .into_inner()
}

async fn after_rotation_deliveries_are_signed_with_both_secrets_during_the_grace_period(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let created = app
        .subscribe(&receiver.url("/rotated"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();
    let old = created.secret;

    let rotated = rotate(&app, &webhook.id).await;
    let new = rotated.secret.clone();
    assert_ne!(new, old);
    let key = new.strip_prefix("whsec_").expect("whsec_ prefix");
    assert_eq!(STANDARD.decode(key).expect("base64").len(), 32);
    assert_eq!(rotated.webhook.as_ref().unwrap().id, webhook.id);
    let expires = time(&rotated.previous_secret_expires_at);
    let ahead = expires - chrono::Utc::now();
    assert!(
        (ahead - chrono::Duration::hours(24)).abs() < chrono::Duration::minutes(1),
        "the old secret expires in {ahead:?}"
    );
    assert!(
        !format!("{:?}", app.get_webhook(&webhook.id).await.unwrap()).contains(key),
        "GetWebhook shows the secret"
    );

    app.publish("member.added", json!({"after": "rotation"}), "")
        .await
        .unwrap();
    let got = &receiver.wait_for("/rotated", 1, WAIT).await[0];
    let mut entries = signature_entries(got);
    entries.sort();
    let mut expected = vec![standard_signature(&new, got), standard_signature(&old, got)];
    expected.sort();
    assert_eq!(entries, expected, "one signature per secret");
    assert_eq!(
        got.header("x-webhook-signature"),
        legacy_signature(&new, got)
    );
}

async fn after_the_grace_period_only_the_new_secret_signs(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.secret_grace = Duration::from_secs(1);
    })
    .await;
    let created = app
        .subscribe(&receiver.url("/graced"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();
    let old = created.secret;

    let rotated = rotate(&app, &webhook.id).await;
    let ahead = time(&rotated.previous_secret_expires_at) - chrono::Utc::now();
    assert!(
        ahead <= chrono::Duration::seconds(1) && ahead > chrono::Duration::seconds(-5),
        "the old secret expires in {ahead:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    app.publish("member.added", json!({}), "").await.unwrap();
    let got = &receiver.wait_for("/graced", 1, WAIT).await[0];
    assert_eq!(
        signature_entries(got),
        [standard_signature(&rotated.secret, got)]
    );
    assert_ne!(rotated.secret, old);
    assert_eq!(
        got.header("x-webhook-signature"),
        legacy_signature(&rotated.secret, got)
    );
}

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
        url: "https://hooks.example.com/intruder".into(),
        events: vec!["oauth_app.revoked".into()],
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
    assert_eq!(results.len(), 10);
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
    assert_eq!(results.len(), 7);
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
    ] {
        let results = call_every_rpc(&app, &token, &organization, &webhook.id, &delivery_id).await;
        assert_eq!(results.len(), 10);
        assert_all(&results, Code::PermissionDenied, &[]);
        let types = app
            .webhooks()
            .await
            .list_event_types(authorized(ListEventTypesRequest {}, &token))
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

    // An ADMIN of the organization may.
    let results = call_every_rpc(
        &app,
        &app.token("ADMIN"),
        &organization,
        &webhook.id,
        &delivery_id,
    )
    .await;
    for (rpc, result) in &results {
        assert!(result.is_ok(), "ADMIN {rpc}: {result:?}");
    }
}

async fn list_event_types_returns_the_twelve_types_to_any_authenticated_caller(backend: Backend) {
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
            .list_event_types(authorized(ListEventTypesRequest {}, &token))
            .await
            .expect("list event types")
            .into_inner()
            .event_types;
        let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
        let distinct: HashSet<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(names.len(), 12, "{names:?}");
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
        .list_event_types(ListEventTypesRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
