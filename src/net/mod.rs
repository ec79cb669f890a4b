//! What every listener does at the socket level, whatever it speaks on top
//! (gRPC in `grpc::listener`, plain HTTP in `http`): accept without spinning
//! when accepting fails, close connections that stay silent, stall in their
//! handshake or sit idle, know when a connection has a request in progress,
//! and keep the file-descriptor limit in view.
//!
//! - [`accept`]: accepting, with a growing pause after failed accepts;
//! - [`stream`]: a connection's byte stream that ends itself when its
//!   handshake (by the listener's [`Handshake`] rule) or idle timeout runs
//!   out, and the id that tells it from the others;
//! - [`activity`]: the requests in progress on one connection, and its
//!   client's keepalives;
//! - [`slots`]: the most connections one listener holds at once;
//! - [`throttle`]: one warning now and then for failures by the thousand;
//! - [`descriptors`]: the open-file limit.

pub mod accept;
pub mod activity;
pub mod descriptors;
pub mod slots;
pub mod stream;
pub mod throttle;

use std::time::Duration;

pub use accept::Acceptor;
pub use activity::Activity;
pub use descriptors::{open_file_limit, raise_fd_limit};
pub use slots::Slots;
pub use stream::{ConnectionId, FirstRequest, Handshake, TimedStream, later};
pub use throttle::WarningThrottle;

/// How long an HTTP/2 connection may send nothing before the server pings
/// it, to find peers that vanished without closing (a crashed host, a
/// dropped NAT entry).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a ping may go unanswered before the connection is closed.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// When a server closes a connection on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// From accept until the client has done its part of the handshake
    /// (what that is depends on the listener: see [`Handshake`]).
    pub handshake: Duration,
    /// How long a connection may have no request in progress (those its
    /// listener counts) and its client send no keepalive (where its
    /// listener reads them).
    pub idle: Duration,
}
