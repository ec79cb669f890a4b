//! What an endpoint answers, or a database that goes away, never stalls the
//! recording of other organizations' deliveries or the service's shutdown.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::proxy::proxied_database;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, postgres_available, spawn_app_at, spawn_app_with};
use webhook_service::grpc::proto::DeliveryStatus;

on_every_backend!(an_answer_with_nul_bytes_is_recorded_and_holds_no_other_organization_back);

const WAIT: Duration = Duration::from_secs(10);

async fn an_answer_with_nul_bytes_is_recorded_and_holds_no_other_organization_back(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    receiver.script("/nul", [Reply::status(200).body(&b"ok\0bad"[..])]);
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let hostile = app
        .subscribe(&receiver.url("/nul"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let other = Uuid::new_v4();
    app.subscribe_for(other, &receiver.url("/healthy"), &["member.added"])
        .await;

    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/nul", 1, WAIT).await;
    app.publish_for(other, "member.added").await.unwrap();
    receiver.wait_for("/healthy", 1, WAIT).await;

    let rows = app.wait_until_settled(WAIT).await;
    assert!(rows.iter().all(|(s, _)| s == "succeeded"), "{rows:?}");
    let delivery = &app.deliveries_of(&hostile.id).await[0];
    let delivery = app.get_delivery(&delivery.id).await.unwrap();
    assert_eq!(delivery.status(), DeliveryStatus::Succeeded);
    assert_eq!(delivery.attempts[0].response_excerpt, "ok\u{FFFD}bad");
}

#[tokio::test]
async fn shutdown_ends_within_its_grace_while_results_cannot_be_written() {
    if !postgres_available() {
        return;
    }
    let receiver = Receiver::start().await;
    let (proxy, url) = proxied_database().await;
    let app = spawn_app_at(url, |s| {
        deliver_to(&receiver)(s);
        s.shutdown_grace = Duration::from_secs(1);
    })
    .await;
    receiver.script(
        "/held",
        [Reply::status(200).after(Duration::from_millis(500))],
    );
    app.subscribe(&receiver.url("/held"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/held", 1, WAIT).await;
    // The attempt ends while the database is away: its result cannot be
    // written, however long the writer tries.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;

    app.stop_within(Duration::from_secs(15)).await;
}
