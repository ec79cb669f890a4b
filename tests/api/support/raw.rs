//! Requests written by hand, for what well-behaved clients never send: a
//! body that is still on its way when the answer is due, a gRPC frame that
//! announces more than it holds, bytes that are no protobuf message.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// An HTTP/1.1 answer read off the socket.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: serde_json::Value,
}

/// Sends `POST path` with `headers`, announcing a body of `length` bytes,
/// and only the first `sent` of them; then waits up to `limit` for the
/// answer. `None` when none came: the server waits for the rest.
pub async fn http1_before_body(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
    sent: &[u8],
    limit: Duration,
) -> Option<RawAnswer> {
    let mut tcp = TcpStream::connect(address).await.unwrap();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(sent).await.unwrap();
    // The connection stays open: the rest of the body could still come.
    timeout(limit, read_answer(&mut tcp)).await.ok()
}

/// Reads one answer: its head, and its body by `content-length`.
async fn read_answer(tcp: &mut TcpStream) -> RawAnswer {
    let mut bytes = Vec::new();
    let mut buffer = [0; 4096];
    let end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = tcp.read(&mut buffer).await.expect("an answer");
        assert!(n > 0, "closed before an answer: {bytes:?}");
        bytes.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head[9..12].parse().expect("a status code");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while bytes.len() < end + length {
        let n = tcp.read(&mut buffer).await.expect("the body");
        assert!(n > 0, "closed within the body");
        bytes.extend_from_slice(&buffer[..n]);
    }
    let body = serde_json::from_slice(&bytes[end..end + length]).unwrap_or_default();
    RawAnswer { status, head, body }
}

/// Sends a whole request (head and body) as a simple client does, writing
/// everything before reading anything, from a blocking socket; the answer,
/// or the error that writing or reading met.
pub fn http1_send_all_then_read(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<u16, std::io::Error> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(address)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes())?;
    tcp.write_all(body)?;
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    Ok(String::from_utf8_lossy(&answer[9..12]).parse().unwrap())
}

/// What a gRPC call by hand got: the status headers, or trailers.
#[derive(Debug)]
pub struct RawStatus {
    pub headers: HeaderMap,
}

impl RawStatus {
    pub fn code(&self) -> tonic::Code {
        tonic::Code::from_bytes(self.headers["grpc-status"].as_bytes())
    }

    pub fn status(&self) -> tonic::Status {
        tonic::Status::from_header_map(&self.headers).expect("a grpc-status")
    }
}

/// Starts a unary call of `path` with `token` over HTTP/2 and sends `sent`
/// (the start of its framed message, say), ending the stream only when
/// `end`; waits up to `limit` for a status, in the answer's headers (a
/// trailers-only answer) or trailers. `None` when none came: the server
/// waits for the rest.
pub async fn grpc_by_hand(
    address: SocketAddr,
    path: &str,
    token: Option<&str>,
    sent: Bytes,
    end: bool,
    limit: Duration,
) -> Option<RawStatus> {
    let tcp = TcpStream::connect(address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::post(format!("http://{address}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut client = client.ready().await.unwrap();
    let (response, mut send) = client
        .send_request(request.body(()).unwrap(), false)
        .unwrap();
    send.reserve_capacity(sent.len());
    send.send_data(sent, end).unwrap();
    let answered = async {
        let response = response.await.expect("an answer");
        if response.headers().contains_key("grpc-status") {
            return RawStatus {
                headers: response.headers().clone(),
            };
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("the answer's body");
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await.expect("trailers");
        RawStatus {
            headers: trailers.expect("a status in the trailers"),
        }
    };
    let status = timeout(limit, answered).await.ok();
    drop(send);
    status
}

/// The gRPC frame header of an uncompressed message of `length` bytes.
pub fn frame_header(length: u32) -> [u8; 5] {
    let [a, b, c, d] = length.to_be_bytes();
    [0, a, b, c, d]
}

/// `message` in one gRPC frame.
pub fn framed(message: &[u8]) -> Bytes {
    let mut frame = frame_header(message.len() as u32).to_vec();
    frame.extend_from_slice(message);
    Bytes::from(frame)
}
