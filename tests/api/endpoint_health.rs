//! Endpoints are isolated from their own failure: one that hangs ends up
//! holding a single slot, while a healthy one beside it gets its full cap.

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, spawn_app_with};

on_every_backend!(
    a_hanging_endpoint_ends_with_one_request_in_flight_and_a_healthy_one_keeps_its_cap
);

const CAP: usize = 4;
const EVENTS: usize = 10;

async fn a_hanging_endpoint_ends_with_one_request_in_flight_and_a_healthy_one_keeps_its_cap(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.timeout = Duration::from_millis(500);
        s.retry_schedule = String::new();
        s.max_per_endpoint = CAP as u32;
    })
    .await;
    receiver.script(
        "/hang",
        (0..EVENTS).map(|_| Reply::status(200).after(Duration::from_secs(5))),
    );
    receiver.script(
        "/fast",
        (0..EVENTS).map(|_| Reply::status(200).after(Duration::from_millis(300))),
    );
    app.subscribe(&receiver.url("/hang"), &["member.added"])
        .await;
    app.subscribe(&receiver.url("/fast"), &["member.added"])
        .await;
    for _ in 0..EVENTS {
        app.publish("member.added", json!({}), "").await.unwrap();
    }
    app.wait_until_settled(Duration::from_secs(30)).await;

    let arrivals = |path: &str| {
        let mut at: Vec<_> = receiver.received(path).iter().map(|r| r.at).collect();
        at.sort();
        at
    };
    // The most requests that arrived within `span` of each other.
    let most_together = |at: &[std::time::Instant], span: Duration| {
        (0..at.len())
            .map(|i| at[i..].iter().take_while(|t| **t - at[i] < span).count())
            .max()
            .unwrap_or(0)
    };
    let hang = arrivals("/hang");
    assert_eq!(hang.len(), EVENTS);
    // The first ones together (well inside the 500 ms timeout that spaces
    // the later ones; a loaded machine spread them over 270 ms once).
    assert_eq!(
        most_together(&hang[..CAP], Duration::from_millis(400)),
        CAP,
        "{hang:?}"
    );
    // After the first timeouts, one at a time: each waits for the one before
    // to time out.
    let later = &hang[CAP..];
    assert_eq!(
        most_together(later, Duration::from_millis(300)),
        1,
        "more than one request at a time to the hanging endpoint"
    );
    let fast = arrivals("/fast");
    assert_eq!(most_together(&fast, Duration::from_millis(200)), CAP);
}
