//! A client of `grpc.health.v1.Health`, as a load balancer or an
//! orchestrator's probe uses it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prost::Message;
use tonic::codegen::{Bytes, http};
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

/// One unary `Check` by hand over a plain HTTP/2 connection, read to its
/// trailers; panics unless the answer is SERVING.
pub async fn check_over_h2(address: SocketAddr, client: h2::client::SendRequest<Bytes>) {
    let request = http::Request::post(format!("http://{address}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let mut client = client.ready().await.unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    // An empty HealthCheckRequest: not compressed, zero bytes long.
    send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();

    let mut body = response.await.unwrap().into_body();
    let mut message = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        message.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    assert_eq!(trailers["grpc-status"], "0", "{trailers:?}");
    let response = HealthCheckResponse::decode(&message[5..]).unwrap();
    assert_eq!(response.status(), ServingStatus::Serving);
}
