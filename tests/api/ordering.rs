//! Ordered delivery (issue 23): an ordered webhook gets the events of one
//! ordering key one at a time, in publish order; a failed event does not
//! block its key; unordered webhooks do not wait behind ordered ones.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, authorized, deliver_to, publisher_token, spawn_app_with, to_struct,
};
use webhook_service::grpc::proto::{DeliveryStatus, Ordering, PublishEventRequest};

on_every_backend!(
    each_keys_events_arrive_one_at_a_time_in_publish_order_through_random_failures,
    a_head_that_always_fails_ends_failed_and_its_successors_are_delivered,
    an_unordered_webhook_does_not_wait_behind_an_ordered_backlog,
    the_next_of_a_key_is_handed_to_the_workers_with_the_record_of_the_one_before,
);

const WAIT: Duration = Duration::from_secs(30);

/// Creates an ordered webhook for `path` subscribed to `member.added`.
pub async fn ordered_webhook(app: &TestApp, receiver: &Receiver, path: &str) -> String {
    let mut request = app.create_request(&receiver.url(path), &["member.added"]);
    request.ordering = Ordering::Ordered.into();
    let created = app.create_webhook(request).await.expect("create");
    let webhook = created.webhook.unwrap();
    assert_eq!(webhook.ordering(), Ordering::Ordered);
    webhook.id
}

/// Publishes `member.added` with `data` under `key`; answers the event id.
pub async fn publish_keyed(app: &TestApp, key: &str, data: serde_json::Value) -> String {
    let request = PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "member.added".into(),
        data: Some(to_struct(data)),
        ordering_key: key.to_owned(),
        ..Default::default()
    };
    app.events()
        .await
        .publish_event(authorized(request, &publisher_token()))
        .await
        .expect("publish")
        .into_inner()
        .event_id
}

/// Waits until `path` answered `count` requests with a 2xx; answers every
/// request it got.
pub async fn wait_for_successes(
    receiver: &Receiver,
    path: &str,
    count: usize,
) -> Vec<crate::support::receiver::Received> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = receiver.received(path);
        let ok = got.iter().filter(|r| r.status < 300).count();
        if ok >= count {
            return got;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{path}: {ok} of {count} answered 2xx ({} requests)",
            got.len()
        );
        receiver.wait_for(path, got.len() + 1, left).await;
    }
}

/// A small seeded generator (xorshift): the same failures every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// 200 events over 5 keys, the endpoint failing 30% of the requests (a
/// seeded script) with retries in milliseconds: for each key, the
/// deliveries answered 2xx arrive in publish order, every one of them,
/// and never two requests of one key are open at the receiver at once.
async fn each_keys_events_arrive_one_at_a_time_in_publish_order_through_random_failures(
    backend: Backend,
) {
    const KEYS: usize = 5;
    const EVENTS: usize = 200;
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        // Eleven attempts: a delivery failing them all (0.3^11) is not
        // expected in this run.
        s.retry_schedule = "5ms,5ms,10ms,10ms,10ms,20ms,20ms,20ms,20ms,20ms".into();
    })
    .await;
    ordered_webhook(&app, &receiver, "/ordered").await;
    receiver.in_flight_by("/ordered", "/data/key");
    let mut seeded = Seeded(0x9E37_79B9_7F4A_7C15);
    // A little wait in every answer, so that requests of one key would
    // overlap if they were sent together.
    let replies = (0..EVENTS * 3).map(|_| {
        let status = if seeded.next() % 10 < 3 { 500 } else { 200 };
        Reply::status(status).after(Duration::from_millis(2))
    });
    receiver.script("/ordered", replies);
    receiver.always_reply(
        "/ordered",
        Reply::status(200).after(Duration::from_millis(2)),
    );

    // Each key's events from its own publisher, one after another: their
    // publish order is the order of the answers.
    let publishers = (0..KEYS).map(|k| {
        let app = &app;
        async move {
            for n in (k..EVENTS).step_by(KEYS) {
                publish_keyed(
                    app,
                    &format!("key-{k}"),
                    json!({"key": format!("key-{k}"), "n": n}),
                )
                .await;
            }
        }
    });
    futures_util::future::join_all(publishers).await;

    let got = wait_for_successes(&receiver, "/ordered", EVENTS).await;
    let mut sent: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for request in got.iter().filter(|r| r.status < 300) {
        let data = &request.json()["data"];
        sent.entry(data["key"].as_str().unwrap().to_owned())
            .or_default()
            .push(data["n"].as_u64().unwrap());
    }
    assert_eq!(sent.len(), KEYS);
    for (key, numbers) in &sent {
        let k: usize = key.strip_prefix("key-").unwrap().parse().unwrap();
        let expected: Vec<u64> = (k..EVENTS).step_by(KEYS).map(|n| n as u64).collect();
        assert_eq!(
            numbers, &expected,
            "{key} in the order its events got a 2xx"
        );
        assert_eq!(
            receiver.peak_in_flight(&format!("/ordered#{key}")),
            1,
            "{key} had several requests open at once"
        );
    }
    let failed = got.iter().filter(|r| r.status >= 300).count();
    assert!(failed > 0, "the script failed no request");
}

/// The first event of a sequence fails every attempt: it ends `failed`
/// after its retries, and only then do the events behind it go out.
async fn a_head_that_always_fails_ends_failed_and_its_successors_are_delivered(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "20ms,20ms".into();
    })
    .await;
    let webhook = ordered_webhook(&app, &receiver, "/stuck").await;
    // Three attempts of the head, all failing; 200 after.
    receiver.script("/stuck", (0..3).map(|_| Reply::status(500)));
    let mut events = Vec::new();
    for n in 0..3 {
        // No key: the webhook's one default sequence.
        events.push(publish_keyed(&app, "", json!({"n": n})).await);
    }

    let got = wait_for_successes(&receiver, "/stuck", 2).await;
    let order: Vec<(u64, u16)> = got
        .iter()
        .map(|r| (r.json()["data"]["n"].as_u64().unwrap(), r.status))
        .collect();
    assert_eq!(
        order,
        [(0, 500), (0, 500), (0, 500), (1, 200), (2, 200)],
        "what /stuck got, in order"
    );
    let deliveries = app.deliveries_of(&webhook).await;
    for delivery in deliveries {
        let Some(n) = events.iter().position(|e| *e == delivery.event_id) else {
            continue;
        };
        let done = app
            .wait_for_delivery(&delivery.id, WAIT, |d| {
                d.status() != DeliveryStatus::Pending
            })
            .await;
        let expected = if n == 0 {
            (DeliveryStatus::Failed, 3)
        } else {
            (DeliveryStatus::Succeeded, 1)
        };
        assert_eq!((done.status(), done.attempt_count), expected, "event {n}");
    }
}

/// An ordered webhook with a slow endpoint holds a backlog for a while; an
/// unordered webhook of the same organization gets the same events all
/// along, long before that backlog drains.
async fn an_unordered_webhook_does_not_wait_behind_an_ordered_backlog(backend: Backend) {
    const EVENTS: usize = 20;
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    ordered_webhook(&app, &receiver, "/slow").await;
    app.subscribe(&receiver.url("/fast"), &["member.added"])
        .await;
    // One at a time, the ordered backlog takes at least 20 x 100 ms.
    receiver.always_reply(
        "/slow",
        Reply::status(200).after(Duration::from_millis(100)),
    );
    for n in 0..EVENTS {
        publish_keyed(&app, "", json!({"n": n})).await;
    }

    receiver.wait_for("/fast", EVENTS, WAIT).await;
    let slow_so_far = receiver.received("/slow").len();
    assert!(
        slow_so_far < EVENTS,
        "no ordered backlog was left when the unordered webhook had its {EVENTS} events \
         ({slow_so_far} sent to the ordered one): its events did not go one at a time"
    );
    let slow = wait_for_successes(&receiver, "/slow", EVENTS).await;
    let order: Vec<u64> = slow
        .iter()
        .map(|r| r.json()["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(order, (0..EVENTS as u64).collect::<Vec<_>>());
    assert_eq!(receiver.peak_in_flight("/slow"), 1);
}

/// When a head ends, the transaction that records it leases the next of its
/// key to the same workers, which send it at once: a key's chain needs no
/// claim round per event. (Without that, each promotion wakes a claim.)
async fn the_next_of_a_key_is_handed_to_the_workers_with_the_record_of_the_one_before(
    backend: Backend,
) {
    const EVENTS: usize = 12;
    let receiver = Receiver::start().await;
    // Slow enough that the whole chain is published while its head is out.
    receiver.always_reply(
        "/chain",
        Reply::status(200).after(Duration::from_millis(50)),
    );
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        // No poll during the test: a claim round comes only from a wake.
        s.poll_interval = Duration::from_secs(3600);
    })
    .await;
    ordered_webhook(&app, &receiver, "/chain").await;
    for n in 0..EVENTS {
        publish_keyed(&app, "k", json!({"n": n})).await;
    }
    // Each publish left a delivery behind the head and woke a claim round;
    // the last of those may start just after. Every round after it would
    // be for a promotion.
    let rounds = app.activity.borrow().rounds_finished;
    let got = wait_for_successes(&receiver, "/chain", EVENTS).await;
    let numbers: Vec<u64> = got
        .iter()
        .map(|r| r.json()["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..EVENTS as u64).collect::<Vec<_>>());
    let after = app.activity.borrow().rounds_finished;
    assert!(
        after - rounds <= 2,
        "{} claim rounds ran for {EVENTS} events of one key: the promoted heads were not handed over",
        after - rounds
    );
}
