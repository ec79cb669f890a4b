//! One accepted connection: the TCP stream (or the TLS session over it),
//! wrapped so that a connection that never finishes the HTTP/2 handshake, or
//! that stays idle too long, reads as closed and hyper drops it. The bytes
//! the client sends are scanned on their way to hyper (see [`frames`]): a
//! PING from the client counts as activity.
//!
//! [`frames`]: super::frames

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

use super::ConnectionTimeouts;
use super::activity::Activity;
use super::frames::FrameScanner;
use super::transport::Transport;

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

/// A number no other connection accepted by this process has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(u64);

impl ConnectionId {
    fn next() -> Self {
        static LAST: AtomicU64 = AtomicU64::new(0);
        Self(LAST.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// An id of a test's choosing, far from those of accepted connections
    /// (which count up from 1).
    #[cfg(test)]
    pub(crate) fn for_tests(n: u64) -> Self {
        Self(u64::MAX - n)
    }
}

/// An accepted connection that ends itself (reads as end-of-file) when the
/// handshake or idle timeout runs out.
#[derive(Debug)]
pub struct Connection {
    stream: Transport,
    info: ConnectionInfo,
    timeouts: ConnectionTimeouts,
    /// The client's bytes so far, read as far as the frame headers. The
    /// handshake is done once the 24-byte preface and the header of the
    /// SETTINGS frame that must follow it have come; a client that sends
    /// them and then stalls is left to the idle timeout. Under TLS they are
    /// read once decrypted, so they mean the same; the TLS handshake before
    /// them runs against the same deadline.
    frames: FrameScanner,
    /// When the timeouts are next looked at: the handshake deadline until
    /// the handshake bytes have come, then whenever the connection could
    /// next have been idle long enough.
    check: Pin<Box<Sleep>>,
    closed: bool,
}

impl Connection {
    /// `stream`, accepted from `remote_addr` at `accepted_at`: the handshake
    /// deadline counts from then, whatever came between (a TLS handshake).
    pub(super) fn new(
        stream: Transport,
        remote_addr: SocketAddr,
        accepted_at: Instant,
        timeouts: ConnectionTimeouts,
    ) -> Self {
        let info = ConnectionInfo {
            id: ConnectionId::next(),
            local_addr: stream.local_addr(),
            remote_addr: Some(remote_addr),
            activity: Arc::new(Activity::new()),
        };
        let check = Box::pin(tokio::time::sleep_until(later(
            accepted_at,
            timeouts.handshake,
        )));
        Self {
            stream,
            info,
            timeouts,
            frames: FrameScanner::default(),
            check,
            closed: false,
        }
    }

    /// True once a timeout has run out. Registers for a wake-up at the next
    /// check otherwise, so hyper polls the read side again then.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        while !self.closed && self.check.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            match self.next_check(now) {
                Some(at) => self.check.as_mut().reset(at),
                None => {
                    tracing::debug!(
                        remote_addr = ?self.info.remote_addr,
                        handshake_done = self.handshake_done(),
                        "closing connection: timed out"
                    );
                    self.closed = true;
                }
            }
        }
        self.closed
    }

    /// When to look again, or `None` when the connection is to be closed now.
    fn next_check(&self, now: Instant) -> Option<Instant> {
        if !self.handshake_done() {
            return None;
        }
        match self.info.activity.idle_for(now) {
            // A call is in progress: once it ends the connection needs a
            // whole idle timeout anyway.
            None => Some(later(now, self.timeouts.idle)),
            Some(idle) if idle >= self.timeouts.idle => None,
            Some(idle) => Some(later(now, self.timeouts.idle - idle)),
        }
    }

    fn handshake_done(&self) -> bool {
        self.frames.handshake_done()
    }
}

/// `at + span`, capped at thirty years (as tokio caps its own far future):
/// the timeouts are settings, and `Instant` overflows on huge ones.
pub(super) fn later(at: Instant, span: Duration) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    at + span.min(THIRTY_YEARS)
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timed_out(cx) {
            // Nothing read: end-of-file, and hyper ends the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        let handshake_was_done = this.handshake_done();
        if this.frames.scan(&buf.filled()[before..]) {
            // The client wants this connection kept: an HTTP/2 keepalive.
            this.info.activity.touch(Instant::now());
        }
        if !handshake_was_done && this.handshake_done() {
            // From now on the idle timeout rules: look at it on the next
            // poll rather than at the handshake deadline.
            this.check.as_mut().reset(Instant::now());
        }
        read
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
