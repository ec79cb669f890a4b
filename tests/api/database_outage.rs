//! What callers and operators see when the database goes away. PostgreSQL
//! only: the test puts a TCP proxy between the service and the database and
//! cuts it.

use std::time::Duration;

use tonic::Code;

use crate::support::proxy::proxied_database;
use crate::support::scrape::{Scrape, scrape_until};
use crate::support::{postgres_available, spawn_app_at};

/// How soon the health probe notices (a ping a second, each given 2 s).
const WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_database_that_is_down_answers_unavailable_without_details() {
    if !postgres_available() {
        return;
    }
    let (proxy, url) = proxied_database().await;
    let app = spawn_app_at(url, |_| {}).await;

    let first = app.create_request("https://hooks.example.com/up", &["member.added"]);
    app.create_webhook(first)
        .await
        .expect("works while the database is up");

    proxy.cut();
    let second = app.create_request("https://hooks.example.com/down", &["member.added"]);
    let status = app.create_webhook(second).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        !status.message().contains("127.0.0.1"),
        "{}",
        status.message()
    );
}

/// The promise the alert `WebhookDatabaseUnreachable` builds on: the health
/// probe's verdict is on `GET /metrics` within seconds, both ways.
#[tokio::test]
async fn the_metrics_say_the_database_is_unreachable_within_five_seconds_and_reachable_again_after_its_return()
 {
    if !postgres_available() {
        return;
    }
    let (proxy, url) = proxied_database().await;
    let app = spawn_app_at(url, |_| {}).await;
    let metrics = app.metrics_address.expect("metrics served");
    let up = |value: f64| move |s: &Scrape| s.value("webhook_database_up", &[]) == Some(value);
    scrape_until(metrics, WITHIN, up(1.0)).await;

    proxy.cut();
    scrape_until(metrics, WITHIN, up(0.0)).await;

    proxy.restore().await;
    scrape_until(metrics, WITHIN, up(1.0)).await;
}
