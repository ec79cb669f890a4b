//! The gRPC listener: accepts TCP connections without spinning when accept
//! fails, optionally speaks TLS (mutual TLS too) with each handshake in a
//! task of its own, and closes connections that never finish the TLS and
//! HTTP/2 handshakes or sit idle, so silent or abandoned clients cannot hold
//! descriptors forever.
//!
//! A connection is idle while no RPC is in progress on it and its client
//! sends no PING: each [`Connection`] carries its activity in its
//! [`ConnectionInfo`], which tonic puts into every request; [`TrackRpcsLayer`]
//! counts the RPC in there until its response body is dropped (health
//! `Watch` streams excepted), the connection notes the client's PINGs as it
//! reads, and it reads as closed once it has been idle for the idle timeout.

mod accept;
mod activity;
mod connection;
mod descriptors;
mod frames;
mod handshakes;
mod throttle;
pub mod tls;
mod transport;

use std::time::Duration;

pub use accept::incoming;
pub use activity::TrackRpcsLayer;
pub use connection::{Connection, ConnectionId, ConnectionInfo};
pub use descriptors::raise_fd_limit;

/// How long a connection may send nothing before the server pings it, to find
/// peers that vanished without closing (a crashed host, a dropped NAT entry).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a ping may go unanswered before the connection is closed.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// When the server closes a connection on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// From accept until the client has sent the HTTP/2 preface and the
    /// header of its first frame (after the TLS handshake, under TLS).
    pub handshake: Duration,
    /// How long a connection may have no RPC in progress (health `Watch`
    /// streams aside) and its client send no PING.
    pub idle: Duration,
}
