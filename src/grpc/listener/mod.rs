//! The gRPC listener: accepts TCP connections without spinning when accept
//! fails, optionally speaks TLS (mutual TLS too) with each handshake in a
//! task of its own, and closes connections that never finish the TLS and
//! HTTP/2 handshakes or sit idle, so silent or abandoned clients cannot hold
//! descriptors forever. The socket-level parts it shares with the REST face
//! are in [`crate::net`].
//!
//! A connection is idle while no RPC is in progress on it and its client
//! sends no PING: each [`Connection`] carries its activity in its
//! [`ConnectionInfo`], which tonic puts into every request; [`TrackRpcsLayer`]
//! counts the RPC in there until its response body is dropped (health
//! `Watch` streams excepted), the connection's handshake rule (`frames`)
//! notes the client's PINGs as it reads, and it reads as closed once it has
//! been idle for the idle timeout.

mod accept;
mod activity;
mod connection;
mod frames;
mod handshakes;
pub mod tls;
mod transport;

pub use crate::net::{ConnectionId, ConnectionTimeouts, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT};
pub use accept::incoming;
pub use activity::TrackRpcsLayer;
pub use connection::{Connection, ConnectionInfo};
