//! One accepted gRPC connection: the TCP stream (or the TLS session over
//! it) in a [`TimedStream`], so that a connection that never finishes the
//! HTTP/2 handshake, or that stays idle too long, reads as closed and hyper
//! drops it; and what tonic hands to every request on it. Its handshake
//! rule reads the client's frame headers (see [`frames`]): the handshake is
//! done with the first one, and a PING from the client counts as activity.
//!
//! [`frames`]: super::frames

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;
use tonic::transport::server::Connected;

use super::ConnectionTimeouts;
use super::frames::FrameScanner;
use super::transport::Transport;
use crate::net::{Activity, ConnectionId, TimedStream};

/// An accepted connection that ends itself (reads as end-of-file) when the
/// handshake or idle timeout runs out.
pub type Connection = TimedStream<Transport, FrameScanner>;

/// What tonic puts into the extensions of every request on a connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Tells this connection from the others this process accepted.
    pub id: ConnectionId,
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
        FrameScanner::default(),
        Arc::new(Activity::new()),
    )
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            id: self.id(),
            local_addr: self.get_ref().local_addr(),
            remote_addr: Some(self.remote_addr()),
            activity: self.activity().clone(),
        }
    }
}
