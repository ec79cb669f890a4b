//! One accepted connection's byte stream, wrapped so that a connection that
//! never finishes its handshake, or that stays idle too long, reads as
//! closed and hyper drops it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::ConnectionTimeouts;
use super::activity::Activity;

/// A listener's rule for what a client must have done by the handshake
/// deadline, and for what the bytes it sends say on their way to hyper.
/// Each listener brings its own: plain HTTP waits for [`FirstRequest`];
/// gRPC reads HTTP/2 frame headers (in `grpc::listener`).
pub trait Handshake {
    /// Reads the next bytes the client sent, as hyper reads them; true when
    /// they ask for the connection to be kept (an HTTP/2 PING from the
    /// client), which counts as activity on it.
    fn scan(&mut self, bytes: &[u8]) -> bool;

    /// Whether the client has done its part of the handshake, given what
    /// is in progress on the connection.
    fn done(&self, activity: &Activity) -> bool;
}

/// The client has sent the whole head of its first request (an HTTP/1
/// request line and headers, an HTTP/2 preface, settings and HEADERS
/// frame): a client of the REST face has no reason to connect and wait.
/// Its bytes say nothing more: a connection with no request in progress is
/// idle, whatever else the client sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstRequest;

impl Handshake for FirstRequest {
    fn scan(&mut self, _bytes: &[u8]) -> bool {
        false
    }

    fn done(&self, activity: &Activity) -> bool {
        // hyper reads on after the head of a request (for the next frames,
        // the body, the next request), so this is seen soon after the
        // request has begun.
        activity.has_begun()
    }
}

/// A number no other connection accepted by this process has, whichever
/// listener accepted it.
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
pub struct TimedStream<S, H> {
    stream: S,
    id: ConnectionId,
    remote_addr: SocketAddr,
    activity: Arc<Activity>,
    timeouts: ConnectionTimeouts,
    handshake: H,
    /// Whether the handshake was seen done (it stays done).
    handshake_done: bool,
    /// When the timeouts are next looked at: the handshake deadline until
    /// the handshake is done, then whenever the connection could next have
    /// been idle long enough.
    check: Pin<Box<Sleep>>,
    closed: bool,
}

impl<S, H: Handshake> TimedStream<S, H> {
    /// `stream`, accepted from `remote_addr` at `accepted_at` (the handshake
    /// deadline counts from then, whatever came between, such as a TLS
    /// handshake), whose requests count themselves in on `activity`.
    pub fn new(
        stream: S,
        remote_addr: SocketAddr,
        accepted_at: Instant,
        timeouts: ConnectionTimeouts,
        handshake: H,
        activity: Arc<Activity>,
    ) -> Self {
        let check = Box::pin(tokio::time::sleep_until(later(
            accepted_at,
            timeouts.handshake,
        )));
        Self {
            stream,
            id: ConnectionId::next(),
            remote_addr,
            activity,
            timeouts,
            handshake,
            handshake_done: false,
            check,
            closed: false,
        }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Tells this connection from the others this process accepted.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The requests in progress on the connection.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
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
                        connection = self.id.0,
                        remote_addr = %self.remote_addr,
                        handshake_done = self.handshake_done,
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
        if !self.handshake_done {
            return None;
        }
        match self.activity.idle_for(now) {
            // A request is in progress: once it ends the connection needs a
            // whole idle timeout anyway.
            None => Some(later(now, self.timeouts.idle)),
            Some(idle) if idle >= self.timeouts.idle => None,
            Some(idle) => Some(later(now, self.timeouts.idle - idle)),
        }
    }

    /// Notes when the handshake gets done: from then on the idle timeout
    /// rules, so it is looked at on the next poll rather than at the
    /// handshake deadline.
    fn note_handshake(&mut self) {
        if self.handshake_done {
            return;
        }
        self.handshake_done = self.handshake.done(&self.activity);
        if self.handshake_done {
            self.check.as_mut().reset(Instant::now());
        }
    }
}

/// `at + span`, capped at thirty years (as tokio caps its own far future):
/// the timeouts are settings, and `Instant` overflows on huge ones.
pub fn later(at: Instant, span: Duration) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    at + span.min(THIRTY_YEARS)
}

impl<S: AsyncRead + Unpin, H: Handshake + Unpin> AsyncRead for TimedStream<S, H> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.note_handshake();
        if this.timed_out(cx) {
            // Nothing read: end-of-file, and hyper ends the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if this.handshake.scan(&buf.filled()[before..]) {
            // The client wants this connection kept.
            this.activity.touch(Instant::now());
        }
        this.note_handshake();
        read
    }
}

impl<S: AsyncWrite + Unpin, H: Unpin> AsyncWrite for TimedStream<S, H> {
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
