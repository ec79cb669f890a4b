//! Delivery history: what each attempt got, filtering it, retrying by hand.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use tonic::Code;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, spawn_app_with, time,
};
use webhook_service::grpc::proto::{
    Delivery, DeliveryStatus, ListDeliveriesRequest, RetryDeliveryRequest,
};

on_every_backend!(
    get_delivery_shows_every_attempt_of_a_failing_endpoint,
    list_deliveries_filters_by_webhook_status_and_event_type_without_attempts,
    bad_list_deliveries_filters_are_invalid_argument,
    retry_delivery_sends_a_failed_delivery_again_with_the_same_event,
    retrying_a_pending_delivery_is_failed_precondition,
);

const WAIT: Duration = Duration::from_secs(10);

fn ids(deliveries: &[Delivery]) -> HashSet<String> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

pub(crate) async fn retry(app: &TestApp, delivery_id: &str) -> Result<Delivery, tonic::Status> {
    let request = RetryDeliveryRequest {
        organization_id: app.organization.to_string(),
        delivery_id: delivery_id.to_owned(),
    };
    app.webhooks()
        .await
        .retry_delivery(authorized(request, &app.token("OWNER")))
        .await
        .map(|r| r.into_inner())
}

async fn get_delivery_shows_every_attempt_of_a_failing_endpoint(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.script("/down", (0..4).map(|_| Reply::status(503)));
    let webhook = app
        .subscribe(&receiver.url("/down"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let published = app.publish("member.added", json!({}), "").await.unwrap();
    let sent = receiver.wait_for("/down", 4, WAIT).await;
    app.wait_until_settled(WAIT).await;

    let listed = app.deliveries_of(&webhook.id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].payload, "", "listings leave the payload out");
    let delivery = app.get_delivery(&listed[0].id).await.expect("get delivery");
    assert_eq!(delivery.id, listed[0].id);
    assert_eq!(delivery.organization_id, app.organization.to_string());
    assert_eq!(delivery.webhook_id, webhook.id);
    assert_eq!(delivery.event_id, published.event_id);
    assert_eq!(delivery.event_type, "member.added");
    assert_eq!(delivery.status(), DeliveryStatus::Failed);
    assert_eq!(delivery.attempt_count, 4);
    assert!(!delivery.last_error.is_empty(), "no last_error");
    assert!(time(&delivery.updated_at) >= time(&delivery.created_at));
    // The payload is the body the endpoint got, byte for byte (it was signed).
    assert_eq!(delivery.payload.as_bytes(), sent[0].body, "payload");

    let numbers: Vec<i32> = delivery.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    for attempt in &delivery.attempts {
        assert_eq!(attempt.status_code, Some(503), "{attempt:?}");
        assert_eq!(attempt.error_kind, "http_status", "{attempt:?}");
        assert_eq!(attempt.response_excerpt, "answer 503", "{attempt:?}");
        assert!(attempt.duration_ms >= 0, "{attempt:?}");
        assert!(
            time(&attempt.started_at) >= time(&delivery.created_at),
            "{attempt:?}"
        );
    }
    // Oldest first, spaced at least by the retry schedule (100ms, 200ms, 400ms).
    for (pair, delay) in delivery.attempts.windows(2).zip([100, 200, 400]) {
        let gap = time(&pair[1].started_at) - time(&pair[0].started_at);
        assert!(
            gap >= chrono::Duration::milliseconds(delay),
            "attempts {} and {} are {gap:?} apart",
            pair[0].attempt,
            pair[1].attempt
        );
    }

    let status = app
        .get_delivery(&Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = app.get_delivery("not-a-uuid").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

async fn list_deliveries_filters_by_webhook_status_and_event_type_without_attempts(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.script("/down", (0..4).map(|_| Reply::status(503)));
    let down = app
        .subscribe(&receiver.url("/down"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let up = app
        .subscribe(&receiver.url("/up"), &["member.added", "invite.created"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    app.publish("invite.created", json!({}), "").await.unwrap();
    receiver.wait_for("/down", 4, WAIT).await;
    app.wait_until_settled(WAIT).await;

    let all = app
        .list_deliveries(ListDeliveriesRequest::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    for delivery in &all {
        assert!(delivery.attempts.is_empty(), "a listing has attempts");
        assert!(delivery.attempt_count >= 1);
    }
    for pair in all.windows(2) {
        assert!(
            time(&pair[0].created_at) >= time(&pair[1].created_at),
            "not newest first"
        );
    }
    let failed_id = app.deliveries_of(&down.id).await[0].id.clone();
    let failed = HashSet::from([failed_id.clone()]);
    let of_up: HashSet<String> = ids(&app.deliveries_of(&up.id).await);
    assert_eq!(of_up.len(), 2);
    assert!(!of_up.contains(&failed_id));

    let filter = |webhook_id: &str, status: DeliveryStatus, event_type: &str| {
        let app = &app;
        let request = ListDeliveriesRequest {
            webhook_id: webhook_id.to_owned(),
            status: status as i32,
            event_type: event_type.to_owned(),
            ..Default::default()
        };
        async move { ids(&app.list_deliveries(request).await.unwrap()) }
    };
    let any = DeliveryStatus::Unspecified;
    assert_eq!(filter(&down.id, any, "").await, failed);
    assert_eq!(filter("", DeliveryStatus::Failed, "").await, failed);
    assert_eq!(filter("", DeliveryStatus::Succeeded, "").await, of_up);
    assert!(filter("", DeliveryStatus::Pending, "").await.is_empty());
    let member_added = filter("", any, "member.added").await;
    assert_eq!(member_added.len(), 2);
    assert!(member_added.contains(&failed_id));
    let invites = filter("", any, "invite.created").await;
    assert_eq!(invites.len(), 1);
    assert!(!invites.contains(&failed_id));
    assert_eq!(
        filter(&down.id, DeliveryStatus::Failed, "member.added").await,
        failed
    );
    assert!(
        filter(&down.id, DeliveryStatus::Succeeded, "")
            .await
            .is_empty()
    );
    assert!(filter(&down.id, any, "invite.created").await.is_empty());
    assert!(
        filter(&Uuid::new_v4().to_string(), any, "")
            .await
            .is_empty()
    );

    let listed = app
        .list_deliveries(ListDeliveriesRequest {
            status: DeliveryStatus::Failed as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed[0].status(), DeliveryStatus::Failed);
    assert_eq!(listed[0].attempt_count, 4);
    assert!(listed[0].attempts.is_empty());
}

async fn bad_list_deliveries_filters_are_invalid_argument(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    for (request, field) in [
        (
            ListDeliveriesRequest {
                event_type: "No Such Event".into(),
                ..Default::default()
            },
            "event_type",
        ),
        (
            ListDeliveriesRequest {
                webhook_id: "not-a-uuid".into(),
                ..Default::default()
            },
            "webhook_id",
        ),
        (
            ListDeliveriesRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            ListDeliveriesRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
    ] {
        let status = app.list_deliveries(request).await.unwrap_err();
        assert_field_violation(&status, field);
    }
    // A name of the right shape that no event has (the catalogue may have
    // archived it, or never held it) lists nothing.
    let listed = app
        .list_deliveries(ListDeliveriesRequest {
            event_type: "no.such_event".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty());
}

async fn retry_delivery_sends_a_failed_delivery_again_with_the_same_event(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.script("/again", (0..4).map(|_| Reply::status(500)));
    let webhook = app
        .subscribe(&receiver.url("/again"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let published = app
        .publish("member.added", json!({"user": "u1"}), "")
        .await
        .unwrap();
    receiver.wait_for("/again", 4, WAIT).await;
    app.wait_until_settled(WAIT).await;
    let delivery_id = app.deliveries_of(&webhook.id).await[0].id.clone();
    let failed = app.get_delivery(&delivery_id).await.unwrap();
    assert_eq!(failed.status(), DeliveryStatus::Failed);

    let retried = retry(&app, &delivery_id).await.expect("retry");
    assert_eq!(retried.id, delivery_id);
    assert_eq!(retried.status(), DeliveryStatus::Pending);

    let got = receiver.wait_for("/again", 5, WAIT).await;
    assert_eq!(got[4].header("x-webhook-id"), published.event_id);
    assert_eq!(got[4].header("x-webhook-id"), got[0].header("x-webhook-id"));
    assert_eq!(got[4].header("x-webhook-attempt"), "5");
    assert_eq!(got[4].body, got[0].body, "the body changed");

    let delivered = app
        .wait_for_delivery(&delivery_id, WAIT, |d| {
            d.status() != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(delivered.status(), DeliveryStatus::Succeeded);
    assert_eq!(delivered.attempt_count, 5);
    let numbers: Vec<i32> = delivered.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    assert_eq!(delivered.attempts[4].status_code, Some(200));
    assert_eq!(delivered.attempts[4].error_kind, "");
    assert_eq!(app.deliveries_of(&webhook.id).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received("/again").len(), 5);
}

async fn retrying_a_pending_delivery_is_failed_precondition(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1h".into();
    })
    .await;
    receiver.script("/later", [Reply::status(500)]);
    let webhook = app
        .subscribe(&receiver.url("/later"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/later", 1, WAIT).await;
    let delivery_id = app.deliveries_of(&webhook.id).await[0].id.clone();
    // Failed once; the next attempt is an hour away.
    let waiting = app
        .wait_for_delivery(&delivery_id, WAIT, |d| d.attempt_count == 1)
        .await;
    assert_eq!(waiting.status(), DeliveryStatus::Pending);

    let status = retry(&app, &delivery_id).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let after = app.get_delivery(&delivery_id).await.unwrap();
    assert_eq!(after.status(), DeliveryStatus::Pending);
    assert_eq!(after.attempt_count, 1);
    let due_in = time(&after.next_attempt_at) - chrono::Utc::now();
    assert!(
        due_in > chrono::Duration::minutes(30),
        "the next attempt moved: due in {due_in:?}"
    );
    assert_eq!(receiver.received("/later").len(), 1);

    let status = retry(&app, &Uuid::new_v4().to_string()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}
