//! `grpc.health.v1.Health` tells the truth: NOT_SERVING while the database
//! is unreachable and from the moment the service starts stopping, on
//! `Check` and on `Watch`, for the whole server and each API.

use std::time::{Duration, Instant};

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
use webhook_service::grpc::proto::PublishEventRequest;

on_every_backend!(
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
        idempotency_key: String::new(),
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
