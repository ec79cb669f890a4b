//! Raw TCP clients, for what no well-behaved HTTP client does: stop in the
//! middle of a request line, a preface or a body, and wait.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The HTTP/2 connection preface.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: what must follow the preface.
pub const H2_EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Reads `stream` until the server closes it; how long that took, or
/// `None` if it was still open after `limit`.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(limit, async {
        // An answer (408, say) may come first; then the end.
        while !matches!(stream.read(&mut buffer).await, Ok(0) | Err(_)) {}
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

/// Connects to `address`, sends `bytes` and nothing more, and says how long
/// the server then took to close the connection (`None`: still open after
/// `limit`).
pub async fn stall_after(
    address: std::net::SocketAddr,
    bytes: &[u8],
    limit: Duration,
) -> Option<Duration> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    closed_within(&mut stream, limit).await
}
