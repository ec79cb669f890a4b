//! The plain-HTTP listeners (the REST face, the metrics endpoint): HTTP/1.1
//! and HTTP/2 (prior knowledge) on one port, with a bound on how long a
//! client may take to send a request's headers, so connections that send
//! nothing, or send it slowly, are closed instead of holding a task and a
//! descriptor forever.

use std::future::Future;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;

/// How long accepting waits after failing (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `service` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish. A client has `header_timeout` to send each
/// request's headers (the first one's from accept, the next ones' on a
/// kept-alive connection from the end of the previous answer).
pub async fn serve_http<S, B>(
    listener: TcpListener,
    service: S,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = TowerToHyperService::new(service);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)))
        .keep_alive_timeout(Duration::from_secs(20));
    let connections = GracefulShutdown::new();
    let mut failures = 0u32;
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(100) {
                        tracing::warn!(error = %err, failures, "cannot accept an HTTP connection");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        failures = 0;
        // Answers are small and whole: nothing to wait for.
        let _ = tcp.set_nodelay(true);
        let (builder, service) = (builder.clone(), service.clone());
        let watcher = connections.watcher();
        tokio::spawn(async move {
            // The HTTP version is told from the first bytes, and hyper's
            // header timeout starts only after them: a client that sends
            // nothing is closed here.
            let first = tokio::time::timeout(header_timeout, tcp.peek(&mut [0u8; 1])).await;
            if !matches!(first, Ok(Ok(1..))) {
                return;
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, "HTTP connection closed");
            }
        });
    }
    connections.shutdown().await;
}
