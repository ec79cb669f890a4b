//! Changing, pausing and deleting webhooks.

use std::time::{Duration, Instant};

use chrono::SubsecRound;

use serde_json::json;
use tonic::Code;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, field_mask, spawn_app,
    spawn_app_with, time,
};
use webhook_service::grpc::proto::{
    DeleteWebhookRequest, Delivery, DeliveryStatus, RetryDeliveryRequest, UpdateWebhookRequest,
};

on_every_backend!(
    update_webhook_needs_a_mask_naming_only_known_fields,
    update_webhook_checks_the_fields_it_changes_like_create_webhook,
    update_webhook_changes_only_the_fields_in_its_mask,
    updating_to_the_url_of_another_webhook_is_already_exists,
    update_webhook_moves_updated_at_forward,
    a_paused_webhook_holds_its_deliveries_and_resuming_sends_them,
    deleting_a_webhook_cancels_its_pending_deliveries,
    nul_in_a_description_is_invalid_argument,
);

const WAIT: Duration = Duration::from_secs(10);

/// The retry delay where a test shows a retry does NOT happen: long enough
/// that the test's own pause or delete lands before it even on a loaded
/// machine, short enough to keep the test quick.
const RETRY: &str = "500ms,500ms,500ms";
/// How often the workers poll in such a test: a claim round runs soon after
/// the retry is due.
const POLL: Duration = Duration::from_millis(50);

/// Waits until the clock is past `due`, then until the workers looked
/// (a claim round started after that) and found nothing to send.
async fn until_due_and_quiet(app: &TestApp, due: chrono::DateTime<chrono::Utc>) {
    let deadline = Instant::now() + WAIT;
    while chrono::Utc::now() <= due {
        assert!(Instant::now() < deadline, "the clock never reached {due}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.quiet_after(Instant::now(), WAIT).await;
}

/// When `delivery` is due next.
fn due(delivery: &Delivery) -> chrono::DateTime<chrono::Utc> {
    time(&delivery.next_attempt_at)
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
    // Until the clock, at whole seconds (the coarsest a backend may keep),
    // is past the first stamp: an update now must move it forward.
    let deadline = std::time::Instant::now() + WAIT;
    while chrono::Utc::now().trunc_subsecs(0) <= time(&before.updated_at) {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stood still"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
        s.retry_schedule = RETRY.into();
        s.poll_interval = POLL;
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
    let failed = app
        .wait_for_delivery(&app.deliveries_of(&webhook.id).await[0].id, WAIT, |d| {
            d.attempt_count == 1
        })
        .await;

    let held = app
        .publish("member.added", json!({"n": 2}), "")
        .await
        .unwrap();
    assert_eq!(
        held.deliveries_scheduled, 0,
        "a paused webhook got a delivery"
    );
    until_due_and_quiet(&app, due(&failed)).await;
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
        s.retry_schedule = RETRY.into();
        s.poll_interval = POLL;
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
    // The first attempt is recorded and the retry is RETRY away.
    let failed = app
        .wait_for_delivery(&delivery_id, WAIT, |d| d.attempt_count >= 1)
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
    // Due when it was deleted, or later if a retry slipped in before.
    let after = app.get_delivery(&delivery_id).await.expect("history stays");
    let next = [&failed, &after]
        .iter()
        .filter(|d| d.next_attempt_at.is_some())
        .map(|d| due(d))
        .max()
        .expect("a retry was scheduled");
    until_due_and_quiet(&app, next).await;
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

async fn nul_in_a_description_is_invalid_argument(backend: Backend) {
    let app = spawn_app(backend).await;
    let webhook = app
        .subscribe("https://hooks.example.com/nul", &["member.added"])
        .await
        .webhook
        .unwrap();
    let status = app
        .update_webhook(UpdateWebhookRequest {
            description: "a\0b".into(),
            ..update(&webhook.id, &["description"])
        })
        .await
        .unwrap_err();
    assert_field_violation(&status, "description");
}
