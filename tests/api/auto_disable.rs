//! Webhooks that keep failing are disabled, and RecoverWebhook sends again
//! what they missed.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, field_mask,
    signature_entries, spawn_app_with, standard_signature, time,
};
use webhook_service::grpc::proto::{
    Delivery, DeliveryStatus, RecoverWebhookRequest, UpdateWebhookRequest, Webhook,
};

on_every_backend!(
    a_webhook_failing_for_longer_than_the_limit_is_disabled_and_announced,
    a_success_ends_the_run_of_failures,
    enabling_a_disabled_webhook_clears_why_and_when_it_was_disabled,
    recover_webhook_resends_what_failed_or_was_cancelled_since_a_time,
);

const WAIT: Duration = Duration::from_secs(10);
/// WEBHOOK_DISABLE_AFTER in these tests.
const LIMIT: Duration = Duration::from_secs(1);

/// A service that disables webhooks after [`LIMIT`], makes one attempt per
/// delivery, and sends one request at a time to each endpoint.
async fn failing_app(backend: Backend, receiver: &Receiver) -> TestApp {
    spawn_app_with(backend, |s| {
        deliver_to(receiver)(s);
        s.retry_schedule = "".into();
        s.disable_after = LIMIT;
        s.max_per_endpoint = 1;
    })
    .await
}

/// Polls GetWebhook until `done` holds; panics after [`WAIT`].
async fn wait_for_webhook(app: &TestApp, id: &str, done: impl Fn(&Webhook) -> bool) -> Webhook {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let webhook = app.get_webhook(id).await.expect("get webhook");
        if done(&webhook) {
            return webhook;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook never got there: {webhook:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the webhook's deliveries are `count` and none is pending.
async fn wait_for_settled(app: &TestApp, webhook_id: &str, count: usize) -> Vec<Delivery> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let deliveries = app.deliveries_of(webhook_id).await;
        if deliveries.len() == count
            && deliveries
                .iter()
                .all(|d| d.status() != DeliveryStatus::Pending)
        {
            return deliveries;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never settled: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes the webhook at `path` (subscribed to `member.added`, its endpoint
/// answering 500) fail for longer than [`LIMIT`]: one failure, then, past
/// the limit, a slow failure with two deliveries waiting behind it. Returns
/// once the service disabled it and the request in flight then was answered.
async fn fail_until_disabled(app: &TestApp, receiver: &Receiver, webhook: &Webhook, path: &str) {
    receiver.always(path, 500);
    let before = app.deliveries_of(&webhook.id).await.len();
    app.publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    let failing = wait_for_webhook(app, &webhook.id, |w| w.failing_since.is_some()).await;
    assert!(failing.enabled, "disabled at its first failure");
    // Until it has failed for longer than the limit, by the service's own
    // stamp (the service runs on this clock).
    clock_past(time(&failing.failing_since) + chrono::Duration::from_std(LIMIT).unwrap()).await;
    assert!(app.get_webhook(&webhook.id).await.unwrap().enabled);
    // The first failure past the limit takes a while; the next delivery is
    // in flight (slowly) or waiting when it is recorded, the last waits.
    receiver.script(
        path,
        [
            Reply::status(500).after(Duration::from_millis(500)),
            Reply::status(500).after(Duration::from_secs(1)),
        ],
    );
    for n in 2..=4 {
        app.publish("member.added", json!({ "n": n }), "")
            .await
            .unwrap();
    }
    wait_for_webhook(app, &webhook.id, |w| !w.enabled).await;
    wait_for_settled(app, &webhook.id, before + 4).await;
    // The slow request may still be open (its delivery was cancelled under
    // it): the caller's next steps must not race its answer or its record.
    receiver.wait_until_answered(path, WAIT).await;
    wait_for_recorded(app, &webhook.id, receiver.received(path).len()).await;
}

/// Waits until the webhook's deliveries hold `count` attempts in all: every
/// request sent is recorded, even one whose delivery was cancelled under it.
async fn wait_for_recorded(app: &TestApp, webhook_id: &str, count: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut recorded = 0;
        for delivery in app.deliveries_of(webhook_id).await {
            recorded += app.get_delivery(&delivery.id).await.unwrap().attempts.len();
        }
        if recorded >= count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{recorded} of {count} attempts recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the clock (which the service shares) is past `t`, so what
/// happens next is stamped later than `t`.
async fn clock_past(t: DateTime<Utc>) {
    let deadline = std::time::Instant::now() + WAIT;
    while Utc::now() <= t {
        assert!(std::time::Instant::now() < deadline, "the clock is stuck");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn recover(
    app: &TestApp,
    role: &str,
    webhook_id: &str,
    since: Option<DateTime<Utc>>,
) -> Result<u32, Status> {
    let request = RecoverWebhookRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook_id.to_owned(),
        since: since.map(|t| webhook_service::grpc::timestamp::Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        }),
    };
    app.webhooks()
        .await
        .recover_webhook(authorized(request, &app.token(role)))
        .await
        .map(|r| r.into_inner().deliveries_scheduled)
}

fn millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn a_webhook_failing_for_longer_than_the_limit_is_disabled_and_announced(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = failing_app(backend, &receiver).await;
    let watcher = app
        .subscribe(&receiver.url("/watch"), &["webhook.disabled"])
        .await;
    // Subscribed too, but disabled by then: it gets no word of it.
    let webhook = app
        .subscribe(
            &receiver.url("/down"),
            &["member.added", "webhook.disabled"],
        )
        .await
        .webhook
        .unwrap();
    assert!(webhook.failing_since.is_none());

    fail_until_disabled(&app, &receiver, &webhook, "/down").await;

    let disabled = app.get_webhook(&webhook.id).await.unwrap();
    assert!(!disabled.enabled);
    assert!(
        disabled.disabled_reason.contains("http_status: 500"),
        "the reason lacks the last error: {:?}",
        disabled.disabled_reason
    );
    let (since, at) = (time(&disabled.failing_since), time(&disabled.disabled_at));
    assert!(
        at - since >= chrono::Duration::from_std(LIMIT).unwrap(),
        "disabled after failing for only {:?}",
        at - since
    );
    assert!(time(&disabled.updated_at) >= at);

    // The two ended deliveries failed; the two behind them were cancelled,
    // marked as cancelled by the disabling.
    let deliveries = app.deliveries_of(&webhook.id).await;
    let with = |status| deliveries.iter().filter(move |d| d.status() == status);
    assert_eq!(with(DeliveryStatus::Failed).count(), 2, "{deliveries:?}");
    assert_eq!(with(DeliveryStatus::Cancelled).count(), 2, "{deliveries:?}");
    for cancelled in with(DeliveryStatus::Cancelled) {
        assert!(
            cancelled.last_error.starts_with("disabled: "),
            "{cancelled:?}"
        );
        assert!(cancelled.last_error.contains(&disabled.disabled_reason));
    }
    // The one that waited is never sent.
    assert!(
        receiver.received("/down").len() <= 3,
        "a cancelled delivery was sent: {} requests",
        receiver.received("/down").len()
    );
    assert!(
        receiver
            .received("/down")
            .iter()
            .all(|r| r.json()["type"] == "member.added"),
        "the disabled webhook was told"
    );

    let got = receiver.wait_for("/watch", 1, WAIT).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let announced = &got[0];
    assert_eq!(
        signature_entries(announced),
        [standard_signature(&watcher.secret, announced)]
    );
    let body = announced.json();
    assert_eq!(body["type"], "webhook.disabled");
    assert_eq!(body["id"], announced.header("webhook-id"));
    assert_eq!(
        body["data"],
        json!({
            "id": webhook.id,
            "url": webhook.url,
            "reason": disabled.disabled_reason,
            "disabled_at": millis(at),
        })
    );
}

async fn a_success_ends_the_run_of_failures(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "".into();
    })
    .await;
    let webhook = app
        .subscribe(&receiver.url("/flaky"), &["member.added"])
        .await
        .webhook
        .unwrap();

    receiver.script("/flaky", [Reply::status(500)]);
    app.publish("member.added", json!({}), "").await.unwrap();
    let failing = wait_for_webhook(&app, &webhook.id, |w| w.failing_since.is_some()).await;
    let first = time(&failing.failing_since);
    wait_for_settled(&app, &webhook.id, 1).await;

    // The endpoint answers 200 again.
    app.publish("member.added", json!({}), "").await.unwrap();
    wait_for_settled(&app, &webhook.id, 2).await;
    let recovered = app.get_webhook(&webhook.id).await.unwrap();
    assert_eq!(recovered.failing_since, None, "{recovered:?}");
    assert!(recovered.enabled);

    // The next failure starts a new run.
    receiver.script("/flaky", [Reply::status(500)]);
    app.publish("member.added", json!({}), "").await.unwrap();
    let again = wait_for_webhook(&app, &webhook.id, |w| w.failing_since.is_some()).await;
    assert!(time(&again.failing_since) > first);
    // And a failure within a run keeps its start.
    receiver.script("/flaky", [Reply::status(500)]);
    app.publish("member.added", json!({}), "").await.unwrap();
    wait_for_settled(&app, &webhook.id, 4).await;
    let still = app.get_webhook(&webhook.id).await.unwrap();
    assert_eq!(still.failing_since, again.failing_since);
}

async fn enabling_a_disabled_webhook_clears_why_and_when_it_was_disabled(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = failing_app(backend, &receiver).await;
    let webhook = app
        .subscribe(&receiver.url("/off"), &["member.added"])
        .await
        .webhook
        .unwrap();
    fail_until_disabled(&app, &receiver, &webhook, "/off").await;
    let disabled = app.get_webhook(&webhook.id).await.unwrap();
    assert!(!disabled.disabled_reason.is_empty());
    assert!(disabled.disabled_at.is_some());

    let enabled = app.set_enabled(&webhook.id, true).await;
    assert_eq!(enabled.disabled_reason, "");
    assert_eq!(enabled.disabled_at, None);
    assert_eq!(enabled.failing_since, None);
    assert_eq!(app.get_webhook(&webhook.id).await.unwrap(), enabled);

    // Deliveries flow again (to a fresh path: the old one may hold a
    // scripted answer), and it takes a full new run to disable it.
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: webhook.id.clone(),
        url: receiver.url("/on"),
        update_mask: field_mask(&["url"]),
        ..Default::default()
    })
    .await
    .expect("new url");
    app.publish("member.added", json!({}), "").await.unwrap();
    let deliveries = wait_for_settled(&app, &webhook.id, 5).await;
    assert_eq!(deliveries[0].status(), DeliveryStatus::Succeeded);
    receiver.always("/on", 500);
    app.publish("member.added", json!({}), "").await.unwrap();
    wait_for_settled(&app, &webhook.id, 6).await;
    let failing = app.get_webhook(&webhook.id).await.unwrap();
    assert!(failing.enabled, "disabled by a run that ended: {failing:?}");
    assert!(failing.failing_since.is_some());
}

async fn recover_webhook_resends_what_failed_or_was_cancelled_since_a_time(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = failing_app(backend, &receiver).await;
    let webhook = app
        .subscribe(&receiver.url("/rec"), &["member.added"])
        .await
        .webhook
        .unwrap();
    // Failed before `since`: left alone.
    receiver.script("/rec", [Reply::status(500)]);
    app.publish("member.added", json!({"n": "old"}), "")
        .await
        .unwrap();
    let old = wait_for_settled(&app, &webhook.id, 1).await[0].clone();
    assert_eq!(old.status(), DeliveryStatus::Failed);
    // `since` falls strictly between the old failure and the next publish,
    // to the millisecond (what the API keeps).
    clock_past(time(&old.updated_at) + chrono::Duration::milliseconds(1)).await;
    let since = Utc::now();
    clock_past(since + chrono::Duration::milliseconds(1)).await;
    // Succeeded: left alone.
    app.publish("member.added", json!({"n": "ok"}), "")
        .await
        .unwrap();
    let ok = wait_for_settled(&app, &webhook.id, 2).await[0].clone();
    assert_eq!(ok.status(), DeliveryStatus::Succeeded);
    // Two failed, two cancelled by the disabling: recovered.
    fail_until_disabled(&app, &receiver, &webhook, "/rec").await;
    let missed: Vec<Delivery> = app
        .deliveries_of(&webhook.id)
        .await
        .into_iter()
        .filter(|d| d.id != old.id && d.id != ok.id)
        .collect();
    assert_eq!(missed.len(), 4);

    let status = recover(&app, "OWNER", &webhook.id, Some(since))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    // Said as the service's doing, with its reason.
    assert!(
        status
            .message()
            .starts_with("the webhook was disabled by the service: every delivery failed since"),
        "{status:?}"
    );
    let status = recover(&app, "OWNER", &webhook.id, None).await.unwrap_err();
    assert_field_violation(&status, "since");
    let status = recover(&app, "MEMBER", &webhook.id, Some(since))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = recover(&app, "OWNER", &Uuid::new_v4().to_string(), Some(since))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // Enabled again, at a URL that answers 200.
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: webhook.id.clone(),
        url: receiver.url("/rec-ok"),
        enabled: true,
        update_mask: field_mask(&["url", "enabled"]),
        ..Default::default()
    })
    .await
    .expect("enable");
    let scheduled = recover(&app, "ADMIN", &webhook.id, Some(since))
        .await
        .expect("recover");
    assert_eq!(scheduled, 4);

    let got = receiver.wait_for("/rec-ok", 4, WAIT).await;
    let settled = wait_for_settled(&app, &webhook.id, 6).await;
    let sent: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    // Oldest first: the listing is newest first.
    let expected: Vec<&str> = missed.iter().rev().map(|d| d.event_id.as_str()).collect();
    assert_eq!(sent, expected);
    for delivery in &settled {
        let expected = if delivery.id == old.id {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Succeeded
        };
        assert_eq!(delivery.status(), expected, "{delivery:?}");
    }
    let unique: HashSet<&str> = sent.iter().copied().collect();
    assert!(!unique.contains(old.event_id.as_str()));
    assert!(!unique.contains(ok.event_id.as_str()));
    // Every delivery is recorded succeeded, so none can be sent again; one
    // sent twice before that would have reached the receiver by now.
    receiver.wait_until_answered("/rec-ok", WAIT).await;
    assert_eq!(receiver.received("/rec-ok").len(), 4, "sent twice");

    // Nothing is left to recover.
    let again = recover(&app, "OWNER", &webhook.id, Some(since)).await;
    assert_eq!(again.expect("recover again"), 0);
}
