//! One accepted gRPC connection: the TCP stream (or the TLS session over
//! it) in a [`TimedStream`], so that a connection that never finishes the
//! HTTP/2 handshake, or that stays idle too long, reads as closed and hyper
//! drops it; and what tonic hands to every request on it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;
use tonic::transport::server::Connected;

use super::ConnectionTimeouts;
use super::transport::Transport;
use crate::net::{Activity, Handshake, TimedStream};

/// The bytes a client has sent once it has done its part of the HTTP/2
/// handshake: the 24-byte connection preface and the 9-byte header of the
/// SETTINGS frame that must follow it. Under TLS they are counted once
/// decrypted, so they mean the same; the TLS handshake before them runs
/// against the same deadline.
const HANDSHAKE_BYTES: usize = 24 + 9;

/// An accepted connection that ends itself (reads as end-of-file) when the
/// handshake or idle timeout runs out.
pub type Connection = TimedStream<Transport>;

/// What tonic puts into the extensions of every request on a connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The address the connection was accepted on.
    pub local_addr: Option<SocketAddr>,
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    pub(super) activity: Arc<Activity>,
}

/// `stream`, accepted from `remote_addr` at `accepted_at`: the handshake
/// deadline counts from then, whatever came between (a TLS handshake).
pub(super) fn connection(
    stream: Transport,
    remote_addr: SocketAddr,
    accepted_at: Instant,
    timeouts: ConnectionTimeouts,
) -> Connection {
    TimedStream::new(
        stream,
        remote_addr,
        accepted_at,
        timeouts,
        Handshake::Bytes(HANDSHAKE_BYTES),
        Arc::new(Activity::new()),
    )
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            local_addr: self.get_ref().local_addr(),
            remote_addr: Some(self.remote_addr()),
            activity: self.activity().clone(),
        }
    }
}
