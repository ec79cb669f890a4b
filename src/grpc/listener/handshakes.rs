//! TLS handshakes, each in a task of its own: a client that is slow, or
//! that opens a connection and never says a word, holds up neither
//! accepting nor anyone else's handshake. Each is bounded by the handshake
//! timeout, counted from accept; what is left of it then covers the HTTP/2
//! preface inside the TLS session.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::Connection;
use super::ConnectionTimeouts;
use super::connection::connection;
use super::transport::Transport;
use crate::net::WarningThrottle;
use crate::net::later;

/// Failed handshakes are each logged at debug level; at most one warning per
/// this long sums them up.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// The handshakes in progress.
pub(super) struct Handshakes {
    acceptor: TlsAcceptor,
    timeouts: ConnectionTimeouts,
    running: JoinSet<Result<Connection, Failure>>,
    warnings: WarningThrottle,
}

impl Handshakes {
    pub(super) fn new(config: Arc<rustls::ServerConfig>, timeouts: ConnectionTimeouts) -> Self {
        Self {
            acceptor: TlsAcceptor::from(config),
            timeouts,
            running: JoinSet::new(),
            warnings: WarningThrottle::new(WARNING_INTERVAL),
        }
    }

    /// Starts the handshake of `stream`, accepted from `remote_addr` at
    /// `accepted_at` into the listener's `slot`.
    pub(super) fn start(
        &mut self,
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        remote_addr: SocketAddr,
        accepted_at: Instant,
    ) {
        let handshake = self.acceptor.accept(stream);
        let timeouts = self.timeouts;
        self.running.spawn(async move {
            let deadline = later(accepted_at, timeouts.handshake);
            let failed = |reason| Failure {
                remote_addr,
                reason,
            };
            match tokio::time::timeout_at(deadline, handshake).await {
                Ok(Ok(tls)) => Ok(connection(
                    Transport::tls(tls, slot),
                    remote_addr,
                    accepted_at,
                    timeouts,
                )),
                Ok(Err(err)) => Err(failed(Reason::Tls(err))),
                Err(_) => Err(failed(Reason::TimedOut)),
            }
        });
    }

    /// The next connection whose handshake succeeded; the failures before
    /// it are logged. Pending while no handshake is in progress. Dropping
    /// the future loses nothing, so it can race against accepting.
    pub(super) async fn next(&mut self) -> Connection {
        loop {
            match self.running.join_next().await {
                Some(Ok(Ok(connection))) => return connection,
                Some(Ok(Err(failure))) => self.report(&failure),
                Some(Err(err)) => tracing::error!(error = %err, "a TLS handshake task failed"),
                None => std::future::pending().await,
            }
        }
    }

    fn report(&mut self, failure: &Failure) {
        tracing::debug!(
            remote_addr = %failure.remote_addr,
            reason = %failure.reason,
            "TLS handshake failed"
        );
        if failure.reason.client_left() {
            // Load balancers' TCP checks and port scans, mostly: no news.
            return;
        }
        if let Some(failures) = self.warnings.failed(Instant::now()) {
            tracing::warn!(
                failures,
                last_remote_addr = %failure.remote_addr,
                last_reason = %failure.reason,
                "TLS handshakes failed (each is logged at debug level)"
            );
        }
    }
}

/// A handshake that did not end in a connection.
#[derive(Debug)]
struct Failure {
    remote_addr: SocketAddr,
    reason: Reason,
}

#[derive(Debug)]
enum Reason {
    /// Not finished within the handshake timeout.
    TimedOut,
    /// Refused by either side, or the connection broke.
    Tls(io::Error),
}

impl Reason {
    /// The client closed the connection before the handshake was done.
    fn client_left(&self) -> bool {
        matches!(self, Self::Tls(err) if matches!(
            err.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => f.write_str("not finished within the handshake timeout"),
            Self::Tls(err) => err.fmt(f),
        }
    }
}
