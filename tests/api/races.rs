//! Deleting, pausing or changing a webhook while its deliveries are being
//! published, retried or held by the workers: nothing is left pending
//! forever, and nothing is sent with settings older than a committed change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, authorized, deliver_to, field_mask, postgres_available, spawn_app_at,
    spawn_app_with,
};
use webhook_service::domain::NewEvent;
use webhook_service::grpc::proto::{RetryDeliveryRequest, UpdateWebhookRequest};

on_every_backend!(
    deleting_webhooks_while_events_are_published_leaves_no_delivery_pending,
    retrying_deliveries_while_their_webhooks_are_deleted_leaves_none_pending,
    updating_a_webhook_while_it_is_deleted_is_ok_or_not_found,
    a_delivery_whose_webhook_is_gone_is_cancelled_when_claimed,
    a_held_delivery_is_not_sent_once_its_webhook_is_paused,
    a_held_delivery_goes_to_the_new_url_once_the_url_changed,
);

const WAIT: Duration = Duration::from_secs(20);

/// How often the workers poll in the `/held` tests: `quiet_after` waits for
/// a claim round that starts after the first delivery succeeded.
const POLL: Duration = Duration::from_millis(50);

/// Waits until the delivery on the wire in a `/held` test is recorded as
/// succeeded, so that the held one behind it had its turn.
async fn wait_until_the_first_succeeded(app: &TestApp) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let deliveries = app.deliveries().await;
        if deliveries.iter().any(|(status, _)| status == "succeeded") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first delivery never succeeded: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `count` webhooks subscribed to `member.added`, at `/{prefix}{i}`.
async fn webhooks(app: &TestApp, receiver: &Receiver, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let created = app
            .subscribe(&receiver.url(&format!("/{prefix}{i}")), &["member.added"])
            .await;
        ids.push(created.webhook.unwrap().id);
    }
    ids
}

/// Waits until no delivery is pending, and returns their statuses.
async fn settled(app: &TestApp) -> Vec<String> {
    let rows = app.wait_until_settled(WAIT).await;
    rows.into_iter().map(|(status, _)| status).collect()
}

async fn deleting_webhooks_while_events_are_published_leaves_no_delivery_pending(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = Arc::new(spawn_app_with(backend, deliver_to(&receiver)).await);
    let ids = webhooks(&app, &receiver, "w", 60).await;

    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let app = app.clone();
        publishers.spawn(async move {
            for _ in 0..10 {
                app.publish("member.added", json!({}), "").await.unwrap();
            }
        });
    }
    for id in &ids {
        app.delete_webhook(id).await.expect("delete");
    }
    while let Some(done) = publishers.join_next().await {
        done.unwrap();
    }

    let statuses = settled(&app).await;
    assert!(
        statuses
            .iter()
            .all(|s| s == "succeeded" || s == "cancelled"),
        "{statuses:?}"
    );
}

async fn retrying_deliveries_while_their_webhooks_are_deleted_leaves_none_pending(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = Arc::new(
        spawn_app_with(backend, |s| {
            deliver_to(&receiver)(s);
            s.retry_schedule = String::new();
        })
        .await,
    );
    let ids = webhooks(&app, &receiver, "r", 40).await;
    for i in 0..40 {
        receiver.always(&format!("/r{i}"), 500);
    }
    app.publish("member.added", json!({}), "").await.unwrap();
    let statuses = settled(&app).await;
    assert!(statuses.iter().all(|s| s == "failed"), "{statuses:?}");
    let mut deliveries = Vec::new();
    for id in &ids {
        deliveries.push(app.deliveries_of(id).await[0].id.clone());
    }

    let mut racers = tokio::task::JoinSet::new();
    for (webhook, delivery) in ids.into_iter().zip(deliveries) {
        let app = app.clone();
        racers.spawn(async move {
            let retry = RetryDeliveryRequest {
                organization_id: app.organization.to_string(),
                delivery_id: delivery,
            };
            let retried = async {
                app.webhooks()
                    .await
                    .retry_delivery(authorized(retry, &app.token("OWNER")))
                    .await
            };
            let (retried, deleted) = tokio::join!(retried, app.delete_webhook(&webhook));
            deleted.expect("delete");
            if let Err(status) = retried {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            }
        });
    }
    while let Some(done) = racers.join_next().await {
        done.unwrap();
    }

    let statuses = settled(&app).await;
    assert!(
        statuses.iter().all(|s| s == "failed" || s == "cancelled"),
        "{statuses:?}"
    );
}

async fn updating_a_webhook_while_it_is_deleted_is_ok_or_not_found(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = Arc::new(spawn_app_with(backend, deliver_to(&receiver)).await);
    let ids = webhooks(&app, &receiver, "u", 30).await;
    let mut racers = tokio::task::JoinSet::new();
    for id in ids {
        let app = app.clone();
        racers.spawn(async move {
            let update = app.update_webhook(UpdateWebhookRequest {
                webhook_id: id.clone(),
                description: "racing".into(),
                update_mask: field_mask(&["description"]),
                ..Default::default()
            });
            let (updated, deleted) = tokio::join!(update, app.delete_webhook(&id));
            deleted.expect("delete");
            if let Err(status) = updated {
                assert_eq!(status.code(), Code::NotFound, "{status:?}");
            }
        });
    }
    while let Some(done) = racers.join_next().await {
        done.unwrap();
    }
}

async fn a_delivery_whose_webhook_is_gone_is_cancelled_when_claimed(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1h".into();
        s.poll_interval = Duration::from_millis(100);
    })
    .await;
    receiver.always("/gone", 500);
    let webhook = app
        .subscribe(&receiver.url("/gone"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/gone", 1, WAIT).await;
    let delivery = app
        .wait_for_delivery(&app.deliveries_of(&webhook.id).await[0].id, WAIT, |d| {
            d.attempt_count == 1
        })
        .await;
    // The row disappears as an older release left it to: no cancel.
    let id = uuid::Uuid::parse_str(&webhook.id).unwrap();
    {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let statement = Query::delete()
            .from_table(Alias::new("webhooks"))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        assert_eq!(app.execute(&statement).await, 1);
    }
    let delivery_id = uuid::Uuid::parse_str(&delivery.id).unwrap();
    app.backdate(
        "deliveries",
        "next_attempt_at",
        delivery_id,
        Duration::from_secs(1),
    )
    .await;

    let statuses = settled(&app).await;
    assert_eq!(statuses, ["cancelled"]);
    assert_eq!(receiver.received("/gone").len(), 1);
}

/// A webhook at `/held` with one slot: its first delivery hangs for a while
/// on the wire, the second waits, held by the workers, for the slot.
async fn a_webhook_with_a_held_delivery(
    backend: Backend,
    receiver: &Receiver,
) -> (TestApp, String) {
    receiver.script(
        "/held",
        [Reply::status(200).after(Duration::from_millis(800))],
    );
    let app = spawn_app_with(backend, |s| {
        deliver_to(receiver)(s);
        s.max_per_endpoint = 1;
        s.poll_interval = POLL;
    })
    .await;
    let webhook = app
        .subscribe(&receiver.url("/held"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    receiver.wait_for("/held", 1, WAIT).await;
    app.publish("member.added", json!({"n": 2}), "")
        .await
        .unwrap();
    app.wait_until_handed_in(WAIT).await;
    (app, webhook.id)
}

async fn a_held_delivery_is_not_sent_once_its_webhook_is_paused(backend: Backend) {
    let receiver = Receiver::start().await;
    let (app, webhook) = a_webhook_with_a_held_delivery(backend, &receiver).await;
    app.set_enabled(&webhook, false).await;
    wait_until_the_first_succeeded(&app).await;
    // The slot is free: the workers looked again and had nothing to send.
    app.quiet_after(Instant::now(), WAIT).await;
    assert_eq!(receiver.received("/held").len(), 1, "sent after the pause");

    app.set_enabled(&webhook, true).await;
    let got = receiver.wait_for("/held", 2, WAIT).await;
    assert_eq!(got[1].json()["data"]["n"], 2);
}

async fn a_held_delivery_goes_to_the_new_url_once_the_url_changed(backend: Backend) {
    let receiver = Receiver::start().await;
    let (app, webhook) = a_webhook_with_a_held_delivery(backend, &receiver).await;
    app.update_webhook(UpdateWebhookRequest {
        webhook_id: webhook,
        url: receiver.url("/moved"),
        update_mask: field_mask(&["url"]),
        ..Default::default()
    })
    .await
    .expect("change the URL");
    let moved = receiver.wait_for("/moved", 1, WAIT).await;
    assert_eq!(moved[0].json()["data"]["n"], 2);
    app.wait_until_settled(WAIT).await;
    assert_eq!(receiver.received("/held").len(), 1, "sent to the old URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_s_held_delivery_is_not_sent_once_the_webhook_is_paused() {
    if !postgres_available() {
        return;
    }
    let receiver = Receiver::start().await;
    receiver.script(
        "/held",
        [Reply::status(200).after(Duration::from_millis(800))],
    );
    let url = crate::support::postgres::fresh_database().unwrap();
    let configure = |s: &mut webhook_service::config::Settings| {
        deliver_to(&receiver)(s);
        s.max_per_endpoint = 1;
        s.poll_interval = POLL;
    };
    let holder = spawn_app_at(url.clone(), configure).await;
    let mut pauser = spawn_app_at(url, configure).await;
    pauser.organization = holder.organization;
    let webhook = holder
        .subscribe(&receiver.url("/held"), &["member.added"])
        .await
        .webhook
        .unwrap();
    // Published through the holder's own bus, so its workers hold both.
    let publish = |n: u32| {
        let event = NewEvent::parse(
            &holder.organization.to_string(),
            "member.added",
            json!({"n": n}),
            String::new(),
            Default::default(),
            String::new(),
        )
        .unwrap();
        holder.publisher.publish(event)
    };
    publish(1).await.unwrap();
    receiver.wait_for("/held", 1, WAIT).await;
    publish(2).await.unwrap();
    holder.wait_until_handed_in(WAIT).await;

    pauser.set_enabled(&webhook.id, false).await;
    wait_until_the_first_succeeded(&holder).await;
    // Either process may hold the per-endpoint cap of 1 (and so be the one
    // that sent and holds): both must have looked and found nothing.
    let now = Instant::now();
    holder.quiet_after(now, WAIT).await;
    pauser.quiet_after(now, WAIT).await;
    assert_eq!(receiver.received("/held").len(), 1, "sent after the pause");
}
