//! Connections to a receiver are kept open and reused across webhooks that
//! share its host: many customers' endpoints sit behind one gateway, and a
//! TLS handshake costs far more than the request.

use std::time::Duration;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, spawn_app_with};

on_every_backend!(webhooks_on_one_host_share_its_connections);

const IN_FLIGHT: u32 = 16;
const WEBHOOKS: usize = 20;
const EVENTS: usize = 10;

async fn webhooks_on_one_host_share_its_connections(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.max_in_flight = IN_FLIGHT;
        // Each webhook alone needs only two connections; together they
        // need one per request in flight.
        s.max_per_endpoint = 2;
    })
    .await;
    for i in 0..WEBHOOKS {
        let path = format!("/shared/{i}");
        receiver.always_reply(&path, Reply::status(200).after(Duration::from_millis(5)));
        app.subscribe(&receiver.url(&path), &["member.added"]).await;
    }
    let before = receiver.handshakes();
    for _ in 0..EVENTS {
        app.publish("member.added", serde_json::json!({}), "")
            .await
            .unwrap();
    }
    app.wait_until_settled(Duration::from_secs(60)).await;

    let after = receiver.handshakes();
    let opened = after.0 - before.0 + after.1 - before.1;
    let deliveries = (WEBHOOKS * EVENTS) as u64;
    assert_eq!(receiver.all_received().len() as u64, deliveries);
    // One per request in flight (and the reserve slot), with room for a
    // connection opened while another was being given back.
    let bound = 2 * (u64::from(IN_FLIGHT) + 1);
    assert!(
        opened <= bound,
        "{opened} connections for {deliveries} deliveries, {IN_FLIGHT} in flight"
    );
}
