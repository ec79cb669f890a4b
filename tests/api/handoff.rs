//! Deliveries reach the workers at once however publishing ends: when the
//! caller gave up waiting after the commit, and when only part of an event
//! could be handed over.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, authorized, deliver_to, publisher_token, spawn_app_with, to_struct,
};
use webhook_service::grpc::proto::{PublishEventRequest, SendTestEventRequest};

on_every_backend!(
    deliveries_go_out_at_once_even_when_the_publisher_stopped_waiting,
    the_part_of_an_event_left_in_the_store_goes_out_without_waiting_for_a_poll,
    a_test_event_left_in_the_store_goes_out_without_waiting_for_a_poll,
);

const WAIT: Duration = Duration::from_secs(10);

async fn deliveries_go_out_at_once_even_when_the_publisher_stopped_waiting(backend: Backend) {
    const CALLS: u64 = 200;
    let receiver = Receiver::start().await;
    // The lease is long: a delivery left leased to nobody would wait for it.
    let app = Arc::new(spawn_app_with(backend, deliver_to(&receiver)).await);
    app.subscribe(&receiver.url("/impatient"), &["member.added"])
        .await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let app = app.clone();
        calls.spawn(async move {
            let mut request = authorized(
                PublishEventRequest {
                    organization_id: app.organization.to_string(),
                    r#type: "member.added".into(),
                    data: Some(to_struct(json!({"n": i}))),
                    ..Default::default()
                },
                &publisher_token(),
            );
            // Deadlines around the commit's duration: some calls end before
            // it, some after it and before their answer. From 0.5 ms to
            // about 0.2 s, growing by a tenth each, so the range straddles
            // the commit even on a loaded machine.
            let micros = 500.0 * 1.1_f64.powi((i % 64) as i32);
            request.set_timeout(Duration::from_micros(micros as u64));
            let _ = app.events().await.publish_event(request).await;
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    let stored = app.deliveries().await.len();
    assert!(stored > 0, "no call committed; the deadlines are too short");
    receiver.wait_for("/impatient", stored, WAIT).await;
    app.wait_until_settled(WAIT).await;
}

/// An app with one slot per endpoint and a 30 s poll, and webhook `/busy`
/// (subscribed to `member.added` and `invite.created`) with one delivery on
/// the wire for a while and one waiting for the slot: the workers take no
/// more for it, so more stays in the store.
async fn a_busy_endpoint(backend: Backend, receiver: &Receiver) -> (TestApp, String) {
    receiver.script(
        "/busy",
        [Reply::status(200).after(Duration::from_millis(700))],
    );
    let app = spawn_app_with(backend, |s| {
        deliver_to(receiver)(s);
        s.max_per_endpoint = 1;
        s.poll_interval = Duration::from_secs(30);
    })
    .await;
    let busy = app
        .subscribe(&receiver.url("/busy"), &["member.added", "invite.created"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/busy", 1, WAIT).await;
    app.publish("member.added", json!({}), "").await.unwrap();
    app.wait_until_handed_in(WAIT).await;
    (app, busy.id)
}

async fn the_part_of_an_event_left_in_the_store_goes_out_without_waiting_for_a_poll(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let (app, _) = a_busy_endpoint(backend, &receiver).await;
    app.subscribe(&receiver.url("/idle"), &["invite.created"])
        .await;

    // Handed over for /idle, left in the store for /busy.
    app.publish("invite.created", json!({}), "").await.unwrap();
    receiver.wait_for("/idle", 1, WAIT).await;
    let got = receiver.wait_for("/busy", 3, WAIT).await;
    assert_eq!(got[2].header("x-webhook-event"), "invite.created");
}

async fn a_test_event_left_in_the_store_goes_out_without_waiting_for_a_poll(backend: Backend) {
    let receiver = Receiver::start().await;
    let (app, busy) = a_busy_endpoint(backend, &receiver).await;
    let request = SendTestEventRequest {
        organization_id: app.organization.to_string(),
        webhook_id: busy,
    };
    app.webhooks()
        .await
        .send_test_event(authorized(request, &app.token("OWNER")))
        .await
        .expect("send a test event");
    let got = receiver.wait_for("/busy", 3, WAIT).await;
    assert_eq!(got[2].header("x-webhook-event"), "webhook.ping");
}
