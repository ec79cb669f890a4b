//! The receiver's server: HTTP/1.1 and HTTP/2, over TLS or not, each
//! request read whole (up to a cap), checked, printed and answered as told.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::print::{Delivery, Printer};
use super::secrets::Secrets;
use super::verify::{Signed, verify};
use crate::domain::event::MAX_DATA_BYTES;

/// The largest body read: the largest event the service delivers (its
/// `data` at most 256 KiB of JSON, plus the envelope) with room to spare.
pub const MAX_BODY_BYTES: usize = MAX_DATA_BYTES + 1024 * 1024;

/// How long a client has for the TLS handshake, and to send a request's head.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After Ctrl-C, how long requests in progress have to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What every request is answered.
#[derive(Debug)]
pub struct Answers {
    /// The status once the failures asked for are spent.
    pub status: StatusCode,
    /// How many requests are still to be answered 500.
    pub failures_left: AtomicU32,
    /// Answer with the request as JSON.
    pub echo: bool,
}

impl Answers {
    /// 500 while failures are left, then the status.
    fn next_status(&self) -> StatusCode {
        let failed = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failed.is_ok() {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            self.status
        }
    }
}

/// What each connection's requests share.
pub struct Receiver {
    pub answers: Answers,
    pub secrets: Secrets,
    pub printer: Printer,
}

/// Serves `listener` (with TLS when `tls` is set) until `shutdown`, then
/// gives the requests in progress [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    receiver: Arc<Receiver>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, or a connection reset while
                    // queued: neither ends the receiver.
                    eprintln!("listen: accept: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let receiver = receiver.clone();
        let service = service_fn(move |request| handle(request, receiver.clone()));
        let builder = builder.clone();
        let watcher = connections.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(tcp), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => stream,
                            // A client that does not trust the CA ends here;
                            // the service logs why on its side.
                            Ok(Err(err)) => return eprintln!("listen: TLS handshake: {err}"),
                            Err(_) => return,
                        };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(err) = served {
                eprintln!("listen: connection: {err}");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown()).await;
}

async fn handle(
    request: Request<Incoming>,
    receiver: Arc<Receiver>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let time = chrono::Utc::now();
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let too_large = err.is::<http_body_util::LengthLimitError>();
            let status = if too_large {
                eprintln!(
                    "listen: {} {}: body over {MAX_BODY_BYTES} bytes, answered 413",
                    parts.method, parts.uri
                );
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return Ok(plain(status));
        }
    };
    let status = receiver.answers.next_status();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let verified = receiver.secrets.checked().then(|| {
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let signed = Signed {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
        };
        verify(&receiver.secrets.current(), signed, &body, time.timestamp())
    });
    receiver.printer.print(&Delivery {
        time,
        method: parts.method.as_str(),
        path: &path,
        headers: &parts.headers,
        body: &body,
        status: status.as_u16(),
        verified,
    });
    if receiver.answers.echo {
        return Ok(echo(status, &path, &parts.headers, &body));
    }
    Ok(plain(status))
}

fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = status;
    response
}

/// `{"path", "headers", "body"}`: the request as it came, header names in
/// lower case, the body as text.
fn echo(status: StatusCode, path: &str, headers: &HeaderMap, body: &[u8]) -> Response<Full<Bytes>> {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value.into())
        })
        .collect();
    let echo = json!({
        "path": path,
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    });
    let mut response = Response::new(Full::new(Bytes::from(echo.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_are_500_then_the_status() {
        let answers = Answers {
            status: StatusCode::NO_CONTENT,
            failures_left: AtomicU32::new(2),
            echo: false,
        };
        let statuses: Vec<u16> = (0..4).map(|_| answers.next_status().as_u16()).collect();
        assert_eq!(statuses, [500, 500, 204, 204]);
    }
}
