//! The stream of connections tonic serves: accepted without spinning (see
//! [`crate::net::accept`]), at most so many at once (handshakes in
//! progress included), and, under TLS, yielded as their handshakes end, so
//! accepting goes on while earlier connections are still in theirs.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::Stream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::connection::connection;
use super::handshakes::Handshakes;
use super::transport::Transport;
use super::{Connection, ConnectionTimeouts};
use crate::net::{Acceptor, Slots};

/// The connections `listener` accepts, with `TCP_NODELAY` on (gRPC sends
/// small frames that should not wait for more) and `timeouts` applied; with
/// `tls`, only those whose TLS handshake succeeded, in the order their
/// handshakes end. At most `max_connections` are open at once: while all
/// are, nothing is accepted and new clients wait in the kernel's listen
/// queue, which costs the process no descriptor. Never yields an error:
/// failures are logged, and failed accepts retried after a pause.
pub fn incoming(
    listener: TcpListener,
    timeouts: ConnectionTimeouts,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
) -> impl Stream<Item = Result<Connection, std::convert::Infallible>> {
    let handshakes = tls.map(|config| Handshakes::new(config, timeouts));
    let accepting = (Slots::new("gRPC", max_connections), Acceptor::new(listener));
    futures_util::stream::unfold(
        (accepting, handshakes),
        move |(mut accepting, mut handshakes)| async move {
            let connection = match &mut handshakes {
                None => {
                    let (slot, stream, remote_addr) = next(&mut accepting).await;
                    let stream = Transport::tcp(stream, slot);
                    connection(stream, remote_addr, Instant::now(), timeouts)
                }
                Some(handshakes) => loop {
                    tokio::select! {
                        // Finished handshakes first, so that a flood of new
                        // connections cannot keep them waiting.
                        biased;
                        connection = handshakes.next() => break connection,
                        (slot, stream, remote_addr) = next(&mut accepting) => {
                            handshakes.start(stream, slot, remote_addr, Instant::now());
                        }
                    }
                },
            };
            Some((Ok(connection), (accepting, handshakes)))
        },
    )
}

/// The next connection and the slot it holds. Dropping the future loses no
/// connection (a slot taken is given back).
async fn next(
    (slots, acceptor): &mut (Slots, Acceptor),
) -> (OwnedSemaphorePermit, TcpStream, SocketAddr) {
    let slot = slots.take().await;
    let (stream, remote_addr) = acceptor.accept().await;
    (slot, stream, remote_addr)
}
