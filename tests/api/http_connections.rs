//! The plain-HTTP listeners (the REST face and `/metrics`) close clients
//! that stall, as the gRPC listener does: in their first request line, in
//! the HTTP/2 preface, in a request body, or idle on an HTTP/2 connection.
//! And slow clients cannot take the descriptors gRPC needs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::codegen::http;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::process::ServiceProcess;
use crate::support::sockets::{H2_EMPTY_SETTINGS, H2_PREFACE, stall_after};
use crate::support::{Backend, TestApp, health, spawn_app_with};

/// The handshake timeout of these tests' servers.
const HANDSHAKE: Duration = Duration::from_secs(1);
/// How long a connection that should be closed after a one-second timeout
/// may take, on a busy machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(4);

/// Both plain-HTTP listeners of `app`, by name.
fn plain_http_listeners(app: &TestApp) -> [(&'static str, SocketAddr); 2] {
    [
        ("REST", app.http_address.expect("REST served")),
        ("metrics", app.metrics_address.expect("metrics served")),
    ]
}

/// Sends `bytes` to each plain-HTTP listener of `app` at once, then
/// nothing; panics unless each closes the connection within
/// [`CLOSED_WITHIN`].
async fn assert_each_listener_closes_after(app: &TestApp, bytes: &[u8]) {
    let [(rest_name, rest), (metrics_name, metrics)] = plain_http_listeners(app);
    let (on_rest, on_metrics) = tokio::join!(
        stall_after(rest, bytes, CLOSED_WITHIN),
        stall_after(metrics, bytes, CLOSED_WITHIN),
    );
    for (name, closed) in [(rest_name, on_rest), (metrics_name, on_metrics)] {
        assert!(
            closed.is_some(),
            "the {name} connection that sent {:?} is still open after {CLOSED_WITHIN:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[tokio::test]
async fn a_client_that_stops_in_its_first_request_line_is_closed_within_the_handshake_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.handshake_timeout = HANDSHAKE).await;
    assert_each_listener_closes_after(&app, b"GET /v1/organiz").await;
}

#[tokio::test]
async fn a_client_that_stops_in_the_http2_preface_is_closed_within_the_handshake_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.handshake_timeout = HANDSHAKE).await;
    assert_each_listener_closes_after(&app, b"PRI * HTTP/2.0\r\n").await;
}

#[tokio::test]
async fn an_http2_client_that_sends_no_request_is_closed_within_the_handshake_timeout() {
    // The idle timeout stays at its default (5 minutes): the handshake
    // timeout is what closes it.
    let app = spawn_app_with(Backend::Sqlite, |s| s.handshake_timeout = HANDSHAKE).await;
    let preface_and_settings = [H2_PREFACE, &H2_EMPTY_SETTINGS].concat();
    assert_each_listener_closes_after(&app, &preface_and_settings).await;
}

#[tokio::test]
async fn an_http2_connection_left_idle_after_a_request_is_closed_after_the_idle_timeout() {
    const IDLE: Duration = Duration::from_secs(1);
    let app = spawn_app_with(Backend::Sqlite, |s| s.idle_timeout = IDLE).await;
    let [(_, rest), (_, metrics)] = plain_http_listeners(&app);
    for (address, path) in [(rest, "/v1/openapi.json"), (metrics, "/metrics")] {
        let (client, connection) = get_over_h2(address, path).await;
        let idle_since = Instant::now();
        let ended = tokio::time::timeout(CLOSED_WITHIN, connection).await;
        assert!(
            ended.is_ok(),
            "the idle HTTP/2 connection to {path} is still open after {CLOSED_WITHIN:?}"
        );
        assert!(
            idle_since.elapsed() >= IDLE / 2,
            "closed after {:?}, before it could have been idle long enough",
            idle_since.elapsed()
        );
        drop(client);
    }
}

#[tokio::test]
async fn a_request_body_that_trickles_in_is_cut_off_a_handshake_timeout_after_its_headers() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.handshake_timeout = HANDSHAKE).await;
    let stream = TcpStream::connect(app.http_address.expect("REST served"))
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    // With a valid token: an anonymous request is answered 401 before its
    // body is read at all.
    let head = format!(
        "POST /v1/organizations/{}/webhooks HTTP/1.1\r\nHost: test\r\n\
         Authorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        app.organization,
        app.token("OWNER")
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let headers_sent = Instant::now();
    // A byte every half timeout: never silent for a whole timeout, and yet
    // the body would take 50 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(HANDSHAKE / 2).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    });

    let mut answer = Vec::new();
    let closed = tokio::time::timeout(CLOSED_WITHIN, async {
        let mut buffer = [0u8; 1024];
        while let Ok(n @ 1..) = read.read(&mut buffer).await {
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    trickle.abort();
    let elapsed = headers_sent.elapsed();
    assert!(
        closed.is_ok(),
        "the connection is still open {elapsed:?} after the headers"
    );
    assert!(
        elapsed >= HANDSHAKE * 3 / 4,
        "closed after {elapsed:?}, before the body's time was up"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
}

#[tokio::test]
async fn slow_rest_clients_cannot_take_the_descriptors_grpc_health_needs() {
    const OPEN_FILES: libc::rlim_t = 200;
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_with_open_files(dir.path(), OPEN_FILES).await;
    let rest = service.http_address().await;
    let grpc = service.address;
    let mut before = HealthClient::new(
        Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    assert_eq!(check(&mut before).await, Ok(ServingStatus::Serving));

    // More slow clients than the service has descriptors, or as many as
    // its listen queue takes: once it is full, a connection attempt waits
    // for the kernel to retry (a second at least).
    let mut slow = Vec::new();
    for _ in 0..OPEN_FILES + 64 {
        let connecting = TcpStream::connect(rest);
        let Ok(stream) = tokio::time::timeout(Duration::from_millis(500), connecting).await else {
            break;
        };
        let mut stream = stream.unwrap();
        stream.write_all(b"GET /v1/organiz").await.unwrap();
        slow.push(stream);
    }
    let open = service.open_files_once_settled().await;

    assert_eq!(
        check(&mut before).await,
        Ok(ServingStatus::Serving),
        "on a gRPC connection opened before ({open} files open)"
    );
    let after = tokio::time::timeout(Duration::from_secs(5), health::check(grpc, "")).await;
    assert!(
        matches!(after, Ok(Ok(ServingStatus::Serving))),
        "on a gRPC connection opened after ({open} files open, {} slow clients): {after:?}",
        slow.len()
    );
    assert!(
        open < OPEN_FILES as usize / 2,
        "{open} of {OPEN_FILES} descriptors in use, with {} slow clients",
        slow.len()
    );
    drop(slow);
}

/// Health `Check` for the whole server on `client`'s connection, or why
/// there is no answer within five seconds.
async fn check(client: &mut HealthClient<Channel>) -> Result<ServingStatus, String> {
    let call = client.check(HealthCheckRequest::default());
    match tokio::time::timeout(Duration::from_secs(5), call).await {
        Ok(Ok(response)) => Ok(response.into_inner().status()),
        Ok(Err(status)) => Err(format!("{status:?}")),
        Err(_) => Err("no answer within 5 s".to_owned()),
    }
}

/// A GET of `path` over HTTP/2 with prior knowledge, read to its end; the
/// client handle (dropping it would end the connection) and the task
/// driving the connection, which ends when the server closes it.
async fn get_over_h2(
    address: SocketAddr,
    path: &str,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = TcpStream::connect(address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{address}{path}"))
        .body(())
        .unwrap();
    let mut ready = client.clone().ready().await.unwrap();
    let (response, _) = ready.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200, "GET {path} over HTTP/2");
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    (client, connection)
}

#[tokio::test]
async fn a_full_rest_listener_takes_the_next_connection_once_one_closes() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.http_max_connections = Some(2)).await;
    let rest = app.http_address.expect("REST served");
    let first = TcpStream::connect(rest).await.unwrap();
    let _second = TcpStream::connect(rest).await.unwrap();
    let mut third = TcpStream::connect(rest).await.unwrap();
    third
        .write_all(b"GET /v1/openapi.json HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();

    // Both slots are held by silent clients: no answer for half a second.
    let mut answer = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut answer)).await;
    assert!(early.is_err(), "answered while the listener was full");

    drop(first);
    let read = tokio::time::timeout(CLOSED_WITHIN, third.read_exact(&mut answer)).await;
    assert!(read.is_ok(), "not answered after a slot came free");
    assert_eq!(
        &answer,
        b"HTTP/1.1 200",
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
