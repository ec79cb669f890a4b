//! What one caller without a token can hold on the gRPC listener: the server
//! advertises how many streams a connection may open, health `Watch`
//! streams are bounded per connection and in all, and a connection whose
//! only calls are `Watch` streams is closed when idle unless its client
//! pings.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::support::health::check_over_h2;
use crate::support::{Backend, TestApp, spawn_app, spawn_app_with};
use webhook_service::grpc::WATCHES_PER_CONNECTION;

#[tokio::test]
async fn the_server_tells_each_connection_how_many_streams_it_may_open() {
    let app = spawn_app(Backend::Sqlite).await;
    let tcp = TcpStream::connect(app.address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::pin!(connection);
    // The server's SETTINGS come before any answer: once a call is answered,
    // the client has read them.
    tokio::select! {
        ended = &mut connection => panic!("the connection ended: {ended:?}"),
        () = check_over_h2(app.address, client) => {}
    }
    assert_eq!(connection.max_concurrent_send_streams(), 256);
}

#[tokio::test]
async fn watch_streams_beyond_a_connections_share_or_the_servers_are_refused_until_others_end() {
    let total = WATCHES_PER_CONNECTION + 4;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.max_health_watches = u32::try_from(total).unwrap()
    })
    .await;

    // Many at once on one connection: its share is served, the rest refused.
    let first = HealthClient::new(app.channel().await);
    let answers = join_all((0..40).map(|_| watch(first.clone()))).await;
    let (mut held, refused) = split(answers).await;
    assert_eq!(held.len(), WATCHES_PER_CONNECTION, "{refused:?}");
    for status in &refused {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("connection"), "{status:?}");
    }

    // Another connection gets what is left of the server's bound.
    let second = HealthClient::new(app.channel().await);
    for _ in WATCHES_PER_CONNECTION..total {
        held.push(serving(watch(second.clone()).await).await);
    }
    let full = watch(second.clone()).await.expect_err("the server is full");
    assert_eq!(full.code(), Code::ResourceExhausted, "{full:?}");
    assert!(full.message().contains("server"), "{full:?}");

    // Streams the client resets give their places back.
    held.truncate(WATCHES_PER_CONNECTION - 2);
    let freed = Instant::now() + Duration::from_secs(5);
    let again = loop {
        match watch(second.clone()).await {
            Ok(stream) => break serving(Ok(stream)).await,
            Err(status) if Instant::now() < freed => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("no place came back within 5 s: {status:?}"),
        }
    };
    // The first connection's share is no longer used up either.
    let back_on_first = serving(watch(first).await).await;
    drop((held, again, back_on_first));
}

#[tokio::test]
async fn a_connection_holding_only_a_watch_is_closed_when_idle_unless_its_client_pings() {
    let idle_timeout = Duration::from_secs(1);
    let app = spawn_app_with(Backend::Sqlite, |s| s.idle_timeout = idle_timeout).await;

    let quiet = HealthClient::new(app.channel().await);
    let pinging = HealthClient::new(pinging_channel(&app).await);
    let mut quiet = serving(watch(quiet).await).await;
    let mut pinging = serving(watch(pinging).await).await;
    let opened = Instant::now();

    // Nothing more to say: the quiet connection's stream ends when the
    // connection is closed, with an error or without.
    let ended = timeout(5 * idle_timeout, quiet.message()).await;
    assert!(
        ended.is_ok(),
        "the Watch-only connection is still open after {:?}",
        opened.elapsed()
    );
    assert!(
        opened.elapsed() >= idle_timeout / 2,
        "closed after {:?}, before it could have been idle long enough",
        opened.elapsed()
    );

    // The pinging one has now been open for more than the idle timeout, and
    // stays: a cut connection would end its stream at once.
    let more = timeout(2 * idle_timeout, pinging.message()).await;
    assert!(
        more.is_err(),
        "the pinging connection's Watch ended: {more:?}"
    );
}

/// A channel whose client sends an HTTP/2 PING every 200 ms, calls or not.
async fn pinging_channel(app: &TestApp) -> Channel {
    Endpoint::from_shared(format!("http://{}", app.address))
        .unwrap()
        .http2_keep_alive_interval(Duration::from_millis(200))
        .keep_alive_while_idle(true)
        .connect()
        .await
        .unwrap()
}

async fn watch(
    mut client: HealthClient<Channel>,
) -> Result<Streaming<HealthCheckResponse>, Status> {
    Ok(client
        .watch(HealthCheckRequest::default())
        .await?
        .into_inner())
}

/// `stream`, once it said SERVING.
async fn serving(
    stream: Result<Streaming<HealthCheckResponse>, Status>,
) -> Streaming<HealthCheckResponse> {
    let mut stream = stream.expect("a Watch stream");
    let first = timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a status within 5 s")
        .expect("no error")
        .expect("a status");
    assert_eq!(first.status(), ServingStatus::Serving);
    stream
}

/// The streams that opened (each having said SERVING), and the refusals.
async fn split(
    answers: Vec<Result<Streaming<HealthCheckResponse>, Status>>,
) -> (Vec<Streaming<HealthCheckResponse>>, Vec<Status>) {
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for answer in answers {
        match answer {
            Ok(stream) => held.push(serving(Ok(stream)).await),
            Err(status) => refused.push(status),
        }
    }
    (held, refused)
}
