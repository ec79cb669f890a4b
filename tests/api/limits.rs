//! How much one organization may register, and that any number of
//! subscribers still gets each event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, deliver_to, spawn_app_with};

on_every_backend!(
    create_webhook_beyond_the_organization_s_limit_is_resource_exhausted,
    an_event_reaches_ten_thousand_subscribers,
);

async fn create_webhook_beyond_the_organization_s_limit_is_resource_exhausted(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_webhooks_per_organization = 3).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let url = format!("https://hooks.example.com/{i}");
        ids.push(app.subscribe(&url, &["member.added"]).await.webhook.unwrap().id);
    }
    let fourth = app.create_request("https://hooks.example.com/3", &["member.added"]);
    let status = app.create_webhook(fourth.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains('3'), "{}", status.message());

    // Another organization has its own allowance.
    let other = uuid::Uuid::new_v4();
    let mut elsewhere = fourth.clone();
    elsewhere.organization_id = other.to_string();
    app.webhooks()
        .await
        .create_webhook(crate::support::authorized(
            elsewhere,
            &app.token_for(other, "OWNER"),
        ))
        .await
        .expect("another organization is not limited by this one");

    app.delete_webhook(&ids[0]).await.unwrap();
    app.create_webhook(fourth)
        .await
        .expect("room again after a delete");
}

async fn an_event_reaches_ten_thousand_subscribers(backend: Backend) {
    const SUBSCRIBERS: usize = 10_000;
    let receiver = Receiver::start().await;
    let app = Arc::new(
        spawn_app_with(backend, |s| {
            deliver_to(&receiver)(s);
            s.max_webhooks_per_organization = SUBSCRIBERS as u32;
        })
        .await,
    );
    let started = Instant::now();
    let mut creators = tokio::task::JoinSet::new();
    for part in 0..32 {
        let (app, base) = (app.clone(), receiver.url("/many"));
        creators.spawn(async move {
            let mut client = app.webhooks().await;
            for i in (part..SUBSCRIBERS).step_by(32) {
                let request = app.create_request(&format!("{base}?n={i}"), &["member.added"]);
                client
                    .create_webhook(crate::support::authorized(request, &app.token("OWNER")))
                    .await
                    .expect("create");
            }
        });
    }
    while let Some(done) = creators.join_next().await {
        done.unwrap();
    }
    eprintln!("{backend:?}: {SUBSCRIBERS} webhooks in {:?}", started.elapsed());

    let published = app.publish("member.added", json!({}), "").await.unwrap();
    assert_eq!(published.deliveries_scheduled as usize, SUBSCRIBERS);
    let got = receiver
        .wait_for("/many", SUBSCRIBERS, Duration::from_secs(120))
        .await;
    assert!(got.iter().all(|r| r.json()["id"] == published.event_id));
    let rows = app.wait_until_settled(Duration::from_secs(60)).await;
    assert_eq!(rows.len(), SUBSCRIBERS);
    assert!(rows.iter().all(|(s, _)| s == "succeeded"));
}
