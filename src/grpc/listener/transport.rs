//! The byte stream under a connection: plain TCP, or TLS over it once its
//! handshake is done, and the listener's slot it holds until it is dropped.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;

/// What a [`Connection`](super::Connection) reads and writes (public only
/// so that it can be named in that type; the module is private).
#[derive(Debug)]
pub struct Transport {
    io: Io,
    /// One of the listener's connection slots, free again once the
    /// connection is gone.
    _slot: OwnedSemaphorePermit,
}

#[derive(Debug)]
enum Io {
    Tcp(TcpStream),
    /// Boxed: a TLS session's state is a few kilobytes, a TCP stream a word.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    pub(super) fn tcp(stream: TcpStream, slot: OwnedSemaphorePermit) -> Self {
        Self {
            io: Io::Tcp(stream),
            _slot: slot,
        }
    }

    pub(super) fn tls(stream: TlsStream<TcpStream>, slot: OwnedSemaphorePermit) -> Self {
        Self {
            io: Io::Tls(Box::new(stream)),
            _slot: slot,
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.io {
            Io::Tcp(stream) => stream.local_addr().ok(),
            Io::Tls(stream) => stream.get_ref().0.local_addr().ok(),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tcp(stream) => stream.is_write_vectored(),
            Io::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
