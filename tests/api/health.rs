//! `grpc.health.v1.Health` tells the truth: NOT_SERVING while the database
//! is unreachable and from the moment the service starts stopping, on
//! `Check` and on `Watch`, for the whole server and each API.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use sea_orm::{
    ConnectionTrait, Database, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde_json::json;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::on_every_backend;
use crate::support::health::{SERVICES, check, next, wait_for_all, watch};
use crate::support::proxy::proxied_database;
use crate::support::{
    Backend, authorized, postgres_available, publisher_token, spawn_app_at, spawn_app_with,
    to_struct,
};
use webhook_service::grpc::proto::{ListWebhooksRequest, PublishEventRequest};

on_every_backend!(
    health_stays_serving_while_another_connection_holds_a_lock_and_calls_wait_behind_it,
    with_a_shutdown_delay_health_says_not_serving_at_once_while_calls_are_still_taken,
    an_unknown_service_is_not_found_on_check_and_service_unknown_on_watch,
);

/// The promise made to load balancers and probes.
const WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn health_turns_not_serving_within_five_seconds_of_losing_the_database_and_back_within_five_of_its_return()
 {
    if !postgres_available() {
        return;
    }
    let (proxy, url) = proxied_database().await;
    let app = spawn_app_at(url, |_| {}).await;
    let mut watches = Vec::new();
    for service in SERVICES {
        let mut stream = watch(app.address, service).await;
        assert_eq!(
            next(&mut stream, WITHIN).await,
            Some(ServingStatus::Serving)
        );
        watches.push(stream);
    }
    wait_for_all(app.address, ServingStatus::Serving, Duration::ZERO).await;

    proxy.cut();
    let cut = Instant::now();
    for stream in &mut watches {
        let left = WITHIN.saturating_sub(cut.elapsed());
        assert_eq!(next(stream, left).await, Some(ServingStatus::NotServing));
    }
    wait_for_all(app.address, ServingStatus::NotServing, Duration::ZERO).await;

    proxy.restore().await;
    let restored = Instant::now();
    for stream in &mut watches {
        let left = WITHIN.saturating_sub(restored.elapsed());
        assert_eq!(next(stream, left).await, Some(ServingStatus::Serving));
    }
    wait_for_all(app.address, ServingStatus::Serving, Duration::ZERO).await;

    let request = app.create_request("https://hooks.example.com/back", &["member.added"]);
    app.create_webhook(request)
        .await
        .expect("serving again means working again");
}

async fn health_stays_serving_while_another_connection_holds_a_lock_and_calls_wait_behind_it(
    backend: Backend,
) {
    // Longer than a ping's interval and timeout together (3 s), shorter
    // than SQLite's busy timeout (5 s), which the waiting calls would hit.
    const HOLD: Duration = Duration::from_secs(4);
    let app = spawn_app_with(backend, |_| {}).await;
    let mut watching = watch(app.address, "").await;
    assert_eq!(
        next(&mut watching, WITHIN).await,
        Some(ServingStatus::Serving)
    );

    // Another client of the database takes a lock that calls need:
    // SQLite's write lock, or PostgreSQL's strongest lock on the webhooks.
    let writer = Database::connect(&app.database_url).await.unwrap();
    let lock = writer
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
        .unwrap();
    if backend == Backend::Postgres {
        lock.execute_unprepared("LOCK TABLE webhooks IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
    }
    let locked = Instant::now();
    // The calls that wait behind it, holding the pool's connections: one
    // write on SQLite, whose pool has one; on PostgreSQL, whose pool has
    // 16, more reads than that (writes would share a group commit).
    let calls = if backend == Backend::Sqlite { 1 } else { 20 };
    let app = &app;
    let waiting = join_all((0..calls).map(|i| async move {
        let answered = if backend == Backend::Sqlite {
            let url = format!("https://hooks.example.com/later/{i}");
            let request = app.create_request(&url, &["member.added"]);
            app.create_webhook(request).await.map(drop)
        } else {
            let request = ListWebhooksRequest {
                organization_id: app.organization.to_string(),
                ..Default::default()
            };
            let mut webhooks = app.webhooks().await;
            let token = app.token("OWNER");
            webhooks
                .list_webhooks(authorized(request, &token))
                .await
                .map(drop)
        };
        (answered, locked.elapsed())
    }));
    let holding = async {
        let news = tokio::time::timeout(HOLD, watching.message()).await;
        assert!(
            news.is_err(),
            "health changed while the lock was held: {news:?}"
        );
        let now = check(app.address, "").await.expect("an answer");
        assert_eq!(now, ServingStatus::Serving);
        lock.rollback().await.unwrap();
    };
    let (answered, ()) = tokio::join!(waiting, holding);
    for (answered, took) in answered {
        answered.expect("the call goes through once the lock is released");
        assert!(took >= HOLD, "the call did not wait for the lock: {took:?}");
    }
}

async fn with_a_shutdown_delay_health_says_not_serving_at_once_while_calls_are_still_taken(
    backend: Backend,
) {
    let delay = Duration::from_secs(2);
    let app = spawn_app_with(backend, |s| s.shutdown_delay = delay).await;
    let address = app.address;
    let mut watching = watch(address, "").await;
    assert_eq!(
        next(&mut watching, WITHIN).await,
        Some(ServingStatus::Serving)
    );
    // A client of its own, connected before the stop, as a caller already
    // routed here would be.
    let mut events = app.events().await;

    let stop = Instant::now();
    let stopping = tokio::spawn(app.stop_within(delay + Duration::from_secs(3)));
    assert_eq!(
        next(&mut watching, Duration::from_millis(500)).await,
        Some(ServingStatus::NotServing)
    );
    wait_for_all(
        address,
        ServingStatus::NotServing,
        Duration::from_millis(500),
    )
    .await;

    let publish = PublishEventRequest {
        organization_id: uuid::Uuid::new_v4().to_string(),
        r#type: "member.added".into(),
        data: Some(to_struct(json!({}))),
        ..Default::default()
    };
    let published = events
        .publish_event(authorized(publish, &publisher_token()))
        .await;
    assert!(stop.elapsed() < delay, "checked within the delay");
    assert!(published.is_ok(), "still taken: {published:?}");

    // The stream's last word was NOT_SERVING; it ends with the server, and
    // holds the stop up no longer than that.
    assert_eq!(next(&mut watching, delay + WITHIN).await, None);
    assert!(
        stop.elapsed() >= delay,
        "the listener stayed open for the delay"
    );
    stopping.await.expect("stopped within delay + 3 s");
    let refused = check(address, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
}

async fn an_unknown_service_is_not_found_on_check_and_service_unknown_on_watch(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let status = check(app.address, "webhooks.v1.Nope").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let mut stream = watch(app.address, "webhooks.v1.Nope").await;
    assert_eq!(
        next(&mut stream, WITHIN).await,
        Some(ServingStatus::ServiceUnknown)
    );
    // Per the protocol the call stays open, with nothing more to say.
    let more = tokio::time::timeout(Duration::from_millis(300), stream.message()).await;
    assert!(more.is_err(), "{more:?}");
}
