//! A client of `grpc.health.v1.Health`, as a load balancer or an
//! orchestrator's probe uses it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Status, Streaming};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// The names health is reported under: the whole server and each API.
pub const SERVICES: [&str; 3] = ["", "webhooks.v1.WebhookService", "webhooks.v1.EventService"];

async fn client(address: SocketAddr) -> Result<HealthClient<Channel>, Status> {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .map_err(|e| Status::unavailable(format!("cannot connect: {e}")))?;
    Ok(HealthClient::new(channel))
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// `Check` on a new connection; UNAVAILABLE when none can be made.
pub async fn check(address: SocketAddr, service: &str) -> Result<ServingStatus, Status> {
    let response = client(address).await?.check(request(service)).await?;
    Ok(response.into_inner().status())
}

/// A `Watch` stream on a new connection.
pub async fn watch(address: SocketAddr, service: &str) -> Streaming<HealthCheckResponse> {
    client(address)
        .await
        .expect("connect")
        .watch(request(service))
        .await
        .expect("watch")
        .into_inner()
}

/// The next status a `Watch` stream sends; `None` when it ends. Panics
/// after `limit`.
pub async fn next(
    stream: &mut Streaming<HealthCheckResponse>,
    limit: Duration,
) -> Option<ServingStatus> {
    let message = tokio::time::timeout(limit, stream.message())
        .await
        .unwrap_or_else(|_| panic!("no status within {limit:?}"))
        .expect("the stream ends cleanly");
    message.map(|m| m.status())
}

/// Polls `Check` on every service until all answer `want`; panics after
/// `limit`. Returns how long it took.
pub async fn wait_for_all(address: SocketAddr, want: ServingStatus, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let mut all = Vec::new();
        for service in SERVICES {
            all.push(check(address, service).await);
        }
        if all.iter().all(|status| status.as_ref().ok() == Some(&want)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not all {want:?} after {limit:?}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
