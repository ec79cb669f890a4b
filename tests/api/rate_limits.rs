//! A webhook may limit how many deliveries a second it receives: those
//! above the rate wait their turn, neither failed nor counted as attempts.

use std::time::Duration;

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, deliver_to, field_mask, spawn_app, spawn_app_with};
use webhook_service::grpc::proto::UpdateWebhookRequest;

on_every_backend!(
    a_webhook_limited_to_ten_a_second_receives_ten_a_second_and_nothing_fails,
    the_rate_limit_is_set_by_create_and_update_webhook,
);

const EVENTS: usize = 30;

async fn a_webhook_limited_to_ten_a_second_receives_ten_a_second_and_nothing_fails(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let mut limited = app.create_request(&receiver.url("/limited"), &["member.added"]);
    limited.rate_limit_per_second = 10;
    let limited = app.create_webhook(limited).await.unwrap().webhook.unwrap();
    assert_eq!(limited.rate_limit_per_second, 10);
    app.subscribe(&receiver.url("/free"), &["member.added"])
        .await;
    for _ in 0..EVENTS {
        app.publish("member.added", json!({}), "").await.unwrap();
    }
    let free = receiver
        .wait_for("/free", EVENTS, Duration::from_secs(10))
        .await;
    let got = receiver
        .wait_for("/limited", EVENTS, Duration::from_secs(20))
        .await;
    let first = got.iter().map(|r| r.at).min().unwrap();
    let last = got.iter().map(|r| r.at).max().unwrap();
    let rate = (EVENTS - 1) as f64 / (last - first).as_secs_f64();
    assert!(
        (8.0..=12.0).contains(&rate),
        "{rate:.1} deliveries a second"
    );
    // The unlimited webhook beside it was not held back.
    let free_span =
        free.iter().map(|r| r.at).max().unwrap() - free.iter().map(|r| r.at).min().unwrap();
    assert!(free_span < last - first, "{free_span:?}");

    let rows = app.wait_until_settled(Duration::from_secs(10)).await;
    assert!(
        rows.iter()
            .all(|(status, attempts)| status == "succeeded" && *attempts == 1),
        "{rows:?}"
    );
}

async fn the_rate_limit_is_set_by_create_and_update_webhook(backend: Backend) {
    let app = spawn_app(backend).await;
    let webhook = app
        .subscribe("https://hooks.example.com/rate", &["member.added"])
        .await
        .webhook
        .unwrap();
    assert_eq!(webhook.rate_limit_per_second, 0, "no limit by default");
    let updated = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: webhook.id.clone(),
            rate_limit_per_second: 25,
            update_mask: field_mask(&["rate_limit_per_second"]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.rate_limit_per_second, 25);
    assert_eq!(
        app.get_webhook(&webhook.id)
            .await
            .unwrap()
            .rate_limit_per_second,
        25
    );
    let status = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: webhook.id,
            update_mask: field_mask(&["rate"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("rate_limit_per_second"),
        "{}",
        status.message()
    );
}
