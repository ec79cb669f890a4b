//! The stream of connections tonic serves: accepted without spinning (see
//! [`crate::net::accept`]) and, under TLS, yielded as their handshakes end,
//! so accepting goes on while earlier connections are still in theirs.

use std::sync::Arc;

use futures_util::Stream;
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::connection::connection;
use super::handshakes::Handshakes;
use super::transport::Transport;
use super::{Connection, ConnectionTimeouts};
use crate::net::Acceptor;

/// The connections `listener` accepts, with `TCP_NODELAY` on (gRPC sends
/// small frames that should not wait for more) and `timeouts` applied; with
/// `tls`, only those whose TLS handshake succeeded, in the order their
/// handshakes end. Never yields an error: failures are logged, and failed
/// accepts retried after a pause.
pub fn incoming(
    listener: TcpListener,
    timeouts: ConnectionTimeouts,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> impl Stream<Item = Result<Connection, std::convert::Infallible>> {
    let handshakes = tls.map(|config| Handshakes::new(config, timeouts));
    futures_util::stream::unfold(
        (Acceptor::new(listener), handshakes),
        move |(mut acceptor, mut handshakes)| async move {
            let connection = match &mut handshakes {
                None => {
                    let (stream, remote_addr) = acceptor.accept().await;
                    let stream = Transport::Tcp(stream);
                    connection(stream, remote_addr, Instant::now(), timeouts)
                }
                Some(handshakes) => loop {
                    tokio::select! {
                        // Finished handshakes first, so that a flood of new
                        // connections cannot keep them waiting.
                        biased;
                        connection = handshakes.next() => break connection,
                        (stream, remote_addr) = acceptor.accept() => {
                            handshakes.start(stream, remote_addr, Instant::now());
                        }
                    }
                },
            };
            Some((Ok(connection), (acceptor, handshakes)))
        },
    )
}
