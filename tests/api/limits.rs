//! How much one organization may register, and that any number of
//! subscribers still gets each event.

use std::time::Duration;

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, deliver_to, spawn_app_with};

on_every_backend!(
    create_webhook_beyond_the_organization_s_limit_is_resource_exhausted,
    an_event_reaches_ten_thousand_subscribers,
);

async fn create_webhook_beyond_the_organization_s_limit_is_resource_exhausted(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_webhooks_per_organization = 3).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let url = format!("https://hooks.example.com/{i}");
        ids.push(
            app.subscribe(&url, &["member.added"])
                .await
                .webhook
                .unwrap()
                .id,
        );
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
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.max_webhooks_per_organization = SUBSCRIBERS as u32;
    })
    .await;
    seed_webhooks(&app, &receiver.url("/many"), SUBSCRIBERS).await;

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

/// `count` webhooks of the app's organization subscribed to `member.added`
/// at `{base}?n={i}`, written straight to the database with their rows in
/// the subscriptions index: through CreateWebhook, each of which announces
/// itself, ten thousand take minutes in a debug build. Their secrets are
/// stored as the service stores them without an encryption key.
async fn seed_webhooks(app: &TestApp, base: &str, count: usize) {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use sea_orm::sea_query::{Alias, Query};

    let secret = format!("plain:whsec_{}", STANDARD.encode([7u8; 32]));
    let now = chrono::Utc::now();
    let columns = [
        "id",
        "organization_id",
        "url",
        "events",
        "secret",
        "created_by",
        "created_at",
        "updated_at",
        "description",
        "enabled",
    ]
    .map(Alias::new);
    let subscription_columns = ["organization_id", "event_type", "webhook_id"].map(Alias::new);
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("webhooks"))
            .columns(columns.clone());
        let mut subscribe = Query::insert();
        subscribe
            .into_table(Alias::new("subscriptions"))
            .columns(subscription_columns.clone());
        for i in chunk {
            let id = uuid::Uuid::now_v7();
            insert.values_panic([
                id.into(),
                app.organization.into(),
                format!("{base}?n={i}").into(),
                json!(["member.added"]).into(),
                secret.clone().into(),
                "seed".into(),
                now.into(),
                now.into(),
                "".into(),
                true.into(),
            ]);
            subscribe.values_panic([app.organization.into(), "member.added".into(), id.into()]);
        }
        app.execute(&insert.to_owned()).await;
        app.execute(&subscribe.to_owned()).await;
    }
}
