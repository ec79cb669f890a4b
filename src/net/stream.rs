//! One accepted connection's byte stream, wrapped so that a connection that
//! never finishes its handshake, or that stays idle too long, reads as
//! closed and hyper drops it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::ConnectionTimeouts;
use super::activity::Activity;

/// What a client must have done by the handshake deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Sent this many bytes. Counting bytes is a proxy that needs no
    /// parsing: for gRPC, the HTTP/2 preface and the header of the frame
    /// that must follow it; a client that sends them and then stalls is
    /// left to the idle timeout.
    Bytes(usize),
    /// Sent the whole head of its first request (an HTTP/1 request line and
    /// headers, an HTTP/2 preface, settings and HEADERS frame): a client of
    /// the REST face has no reason to connect and wait.
    FirstRequest,
}

/// An accepted connection that ends itself (reads as end-of-file) when the
/// handshake or idle timeout runs out.
#[derive(Debug)]
pub struct TimedStream<S> {
    stream: S,
    remote_addr: SocketAddr,
    activity: Arc<Activity>,
    timeouts: ConnectionTimeouts,
    handshake: Handshake,
    /// Counted only up to what a [`Handshake::Bytes`] asks for.
    bytes_read: usize,
    /// Whether the handshake was seen done (it stays done).
    handshake_done: bool,
    /// When the timeouts are next looked at: the handshake deadline until
    /// the handshake is done, then whenever the connection could next have
    /// been idle long enough.
    check: Pin<Box<Sleep>>,
    closed: bool,
}

impl<S> TimedStream<S> {
    /// `stream`, accepted from `remote_addr` at `accepted_at` (the handshake
    /// deadline counts from then, whatever came between, such as a TLS
    /// handshake), whose requests count themselves in on `activity`.
    pub fn new(
        stream: S,
        remote_addr: SocketAddr,
        accepted_at: Instant,
        timeouts: ConnectionTimeouts,
        handshake: Handshake,
        activity: Arc<Activity>,
    ) -> Self {
        let check = Box::pin(tokio::time::sleep_until(later(
            accepted_at,
            timeouts.handshake,
        )));
        Self {
            stream,
            remote_addr,
            activity,
            timeouts,
            handshake,
            bytes_read: 0,
            handshake_done: false,
            check,
            closed: false,
        }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.stream
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
        self.handshake_done = match self.handshake {
            Handshake::Bytes(bytes) => self.bytes_read >= bytes,
            // hyper reads on after the head of a request (for the next
            // frames, the body, the next request), so this is seen soon
            // after the request has begun.
            Handshake::FirstRequest => self.activity.has_begun(),
        };
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

impl<S: AsyncRead + Unpin> AsyncRead for TimedStream<S> {
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
        if let Handshake::Bytes(bytes) = this.handshake
            && this.bytes_read < bytes
        {
            this.bytes_read += buf.filled().len() - before;
            this.note_handshake();
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
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
