//! `grpc.health.v1.Health` tells the truth: NOT_SERVING while the database
//! is unreachable, on `Check` and on `Watch`, for the whole server and each
//! API.

use std::time::{Duration, Instant};

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::on_every_backend;
use crate::support::health::{SERVICES, check, next, wait_for_all, watch};
use crate::support::proxy::proxied_database;
use crate::support::{Backend, postgres_available, spawn_app_at, spawn_app_with};

on_every_backend!(an_unknown_service_is_not_found_on_check_and_service_unknown_on_watch);

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
