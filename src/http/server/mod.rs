//! The plain-HTTP listeners (the REST face, the metrics endpoint): HTTP/1.1
//! and HTTP/2 (prior knowledge) on one port, guarded as the gRPC listener
//! is, with the same parts (see [`crate::net`]), so that silent, slow or
//! idle clients are closed instead of holding a task and a descriptor:
//!
//! - from accept, a client has the handshake timeout to send the head of its
//!   first request (an HTTP/1 request line and headers; an HTTP/2 preface,
//!   settings and HEADERS frame); on a kept-alive HTTP/1 connection, each
//!   next request's head from the end of the previous answer (hyper's
//!   header timer);
//! - a request's body must have come in whole within the handshake timeout
//!   of its head ([`body`]);
//! - a connection with no request in progress for the idle timeout is
//!   closed ([`requests`] counts them);
//! - each listener holds at most `max_connections` at once; more wait in
//!   the kernel's listen queue, so slow clients cannot take the descriptors
//!   that gRPC, the database and deliveries need.

mod body;
mod requests;

use std::future::Future;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::Service;

pub use body::{BodyTooSlow, TimedBody};

use crate::net::{
    Acceptor, Activity, ConnectionTimeouts, FirstRequest, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT,
    Slots, TimedStream,
};
use requests::CountRequests;

/// The body of the requests [`serve_http`] hands its service.
pub type RequestBody = TimedBody<Incoming>;

/// How a plain-HTTP listener treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The handshake timeout bounds each request's head and body; the idle
    /// timeout, a connection with no request in progress.
    pub timeouts: ConnectionTimeouts,
    /// The most connections the listener holds at once.
    pub max_connections: usize,
}

/// Serves `service` on `listener` (`name` in log lines) within `limits`
/// until `shutdown` completes, then lets the requests in flight finish.
pub async fn serve_http<S, B>(
    name: &'static str,
    listener: TcpListener,
    service: S,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<http::Request<RequestBody>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.timeouts.handshake);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(KEEPALIVE_INTERVAL))
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    let connections = GracefulShutdown::new();
    let mut acceptor = Acceptor::new(listener);
    let mut slots = Slots::new(name, limits.max_connections);
    tokio::pin!(shutdown);
    loop {
        // While every slot is taken nothing is accepted (see `Slots`).
        // Dropping the accept loses no connection.
        let (slot, (tcp, remote_addr)) = tokio::select! {
            () = &mut shutdown => break,
            accepted = async { (slots.take().await, acceptor.accept().await) } => accepted,
        };
        let activity = Arc::new(Activity::new());
        let io = TimedStream::new(
            tcp,
            remote_addr,
            Instant::now(),
            limits.timeouts,
            FirstRequest,
            activity.clone(),
        );
        let service = TowerToHyperService::new(CountRequests::new(
            service.clone(),
            activity,
            limits.timeouts.handshake,
        ));
        let builder = builder.clone();
        let watcher = connections.watcher();
        tokio::spawn(async move {
            // The slot is free again once the connection is gone.
            let _slot = slot;
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, "HTTP connection closed");
            }
        });
    }
    connections.shutdown().await;
}
