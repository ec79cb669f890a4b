//! The egress proxy (WEBHOOK_EGRESS_PROXY): every request to an endpoint
//! leaves through the operator's HTTP CONNECT proxy, so that receivers can
//! allow one source address.
//!
//! reqwest tunnels through a proxy by asking it to `CONNECT name:port`, and
//! the proxy resolves the name: the SSRF guard would never see the address,
//! and a name that resolves to a private one would reach it. So reqwest is
//! given a relay of ours on loopback as its proxy. The relay resolves the
//! name, keeps the addresses the guard allows, and asks the operator's proxy
//! to `CONNECT <checked address>:port`. reqwest still speaks TLS through the
//! tunnel with the endpoint's name (SNI, certificate check) and sends its
//! `Host`, as without a proxy.
//!
//! When a tunnel cannot be opened, the relay keeps the reason by
//! destination for the attempt that asked: `blocked` (no allowed address),
//! `connect` (the name does not resolve) or `proxy` (the operator's proxy
//! could not be reached or refused), the last not being the endpoint's
//! fault. The relay takes only reqwest's connections: they carry a random
//! password, so no other local process can use the operator's proxy
//! credentials through it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::domain::network::is_public;

/// The largest request or answer head the relay reads.
const MAX_HEAD: usize = 8 * 1024;
/// Failures older than this are of no attempt still waiting for its tunnel.
const FAILURE_MEMORY: Duration = Duration::from_secs(60);
/// Addresses of one name tried through the proxy, at most.
const MAX_ADDRESSES: usize = 3;
/// Destinations whose last failure is remembered, at most.
const MAX_FAILURES: usize = 4096;
/// The user name reqwest gives the relay.
const RELAY_USER: &str = "webhook-service";

/// The operator's proxy, as WEBHOOK_EGRESS_PROXY gives it:
/// `http://[user:password@]host:port`.
#[derive(Clone, PartialEq, Eq)]
pub struct EgressProxy {
    /// `host:port` of the proxy.
    address: String,
    /// `Basic ...` when the URL has credentials.
    authorization: Option<String>,
}

impl fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials.
        f.debug_struct("EgressProxy")
            .field("address", &self.address)
            .field("credentials", &self.authorization.is_some())
            .finish()
    }
}

impl EgressProxy {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if url.scheme() != "http" {
            return Err("the proxy URL must start with http:// (an HTTP CONNECT proxy)".into());
        }
        let host = url.host_str().ok_or("the proxy URL has no host")?;
        let port = url
            .port()
            .ok_or("the proxy URL needs its port, as in http://proxy:3128")?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err("the proxy URL takes no path, query or fragment".into());
        }
        let authorization = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let pair = format!(
                "{}:{}",
                decode(url.username()),
                decode(url.password().unwrap_or(""))
            );
            format!("Basic {}", STANDARD.encode(pair))
        });
        Ok(Self {
            address: format!("{host}:{port}"),
            authorization,
        })
    }

    /// `host:port`, for logs (no credentials).
    pub fn address(&self) -> &str {
        &self.address
    }
}

/// Why a tunnel was not opened, kept for the attempt that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
}

/// The relay: a CONNECT proxy on loopback in front of the operator's.
pub struct Relay {
    local: SocketAddr,
    password: String,
    failures: Arc<Failures>,
    accept: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

struct Shared {
    upstream: EgressProxy,
    allow_private_targets: bool,
    timeout: Duration,
    /// `Basic ...` that reqwest sends.
    expected: String,
    failures: Arc<Failures>,
}

impl Relay {
    /// Listens on a loopback port (inside the Tokio runtime). `timeout`
    /// bounds opening one tunnel: resolving, reaching the proxy and its
    /// answer.
    pub fn start(
        upstream: EgressProxy,
        allow_private_targets: bool,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let bound = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .context("cannot listen on loopback for the egress relay")?;
        let listener = TcpListener::from_std(bound)?;
        let local = listener.local_addr()?;
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).expect("the operating system's random source failed");
        let password = hex::encode(random);
        let failures = Arc::new(Failures::default());
        let shared = Arc::new(Shared {
            expected: format!(
                "Basic {}",
                STANDARD.encode(format!("{RELAY_USER}:{password}"))
            ),
            upstream,
            allow_private_targets,
            timeout,
            failures: failures.clone(),
        });
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(relay(stream, shared.clone()));
                    }
                    // Out of descriptors, say: reqwest's connect fails and
                    // the attempt is retried.
                    Err(err) => {
                        tracing::warn!(error = %err, "the egress relay cannot accept");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(Self {
            local,
            password,
            failures,
            accept,
        })
    }

    /// The proxy to give reqwest: this relay, with its password.
    pub fn reqwest_proxy(&self) -> anyhow::Result<reqwest::Proxy> {
        Ok(reqwest::Proxy::https(format!("http://{}", self.local))?
            .basic_auth(RELAY_USER, &self.password))
    }

    /// Why the tunnel to `authority` (`host:port`, as in the URL) failed, if
    /// it failed at `since` or later.
    pub fn failure(&self, authority: &str, since: Instant) -> Option<Failure> {
        self.failures.since(authority, since)
    }
}

/// The last failure of each destination, bounded.
#[derive(Default)]
struct Failures(Mutex<HashMap<String, (Instant, Failure)>>);

impl Failures {
    fn record(&self, authority: &str, failure: Failure) {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_FAILURES {
            map.retain(|_, (at, _)| now.duration_since(*at) < FAILURE_MEMORY);
            if map.len() >= MAX_FAILURES {
                map.clear();
            }
        }
        map.insert(authority.to_owned(), (now, failure));
    }

    fn since(&self, authority: &str, since: Instant) -> Option<Failure> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(authority)
            .filter(|(at, _)| *at >= since)
            .map(|(_, failure)| failure.clone())
    }
}

/// Serves one connection from reqwest: a CONNECT, then the bytes both ways.
async fn relay(mut inbound: TcpStream, shared: Arc<Shared>) {
    let _ = inbound.set_nodelay(true);
    let opened = tokio::time::timeout(shared.timeout, open(&mut inbound, &shared)).await;
    let mut upstream = match opened {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(answer)) => {
            let _ = inbound.write_all(answer.as_bytes()).await;
            return;
        }
        // reqwest's own connect timeout is the same: it has given up.
        Err(_) => return,
    };
    if inbound
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
    }
}

/// Reads reqwest's CONNECT and opens the tunnel through the operator's
/// proxy; on failure, the answer to give reqwest.
async fn open(inbound: &mut TcpStream, shared: &Shared) -> Result<TcpStream, &'static str> {
    const BAD_REQUEST: &str = "HTTP/1.1 400 Bad Request\r\n\r\n";
    const BAD_GATEWAY: &str = "HTTP/1.1 502 Bad Gateway\r\n\r\n";
    let head = read_head(inbound).await.map_err(|_| BAD_REQUEST)?;
    let request = ConnectRequest::parse(&head).ok_or(BAD_REQUEST)?;
    if request.authorization.as_deref() != Some(shared.expected.as_str()) {
        return Err("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
    }
    match tunnel(&request.authority, shared).await {
        Ok(stream) => Ok(stream),
        Err(failure) => {
            shared.failures.record(&request.authority, failure);
            Err(BAD_GATEWAY)
        }
    }
}

/// Resolves and checks `authority`, and asks the operator's proxy for a
/// tunnel to the checked address.
async fn tunnel(authority: &str, shared: &Shared) -> Result<TcpStream, Failure> {
    let (host, port) = split_authority(authority).ok_or_else(|| Failure {
        kind: "request",
        message: format!("cannot tunnel to {authority:?}"),
    })?;
    let resolved = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| Failure {
            kind: "connect",
            message: format!("cannot resolve {host}: {err}"),
        })?;
    let allow = shared.allow_private_targets;
    let allowed: Vec<SocketAddr> = resolved
        .filter(|a| allow || is_public(a.ip()))
        .take(MAX_ADDRESSES)
        .collect();
    if allowed.is_empty() {
        return Err(Failure {
            kind: "blocked",
            message: format!("{host} resolves only to private or reserved addresses"),
        });
    }
    // Each address in turn, as a direct connection would: the proxy may
    // reach one and not another (IPv6, say). Only while the proxy answers.
    let mut last = None;
    for address in allowed {
        match connect_through(&shared.upstream, address).await {
            Ok(stream) => return Ok(stream),
            Err(Refusal::ProxyDown(failure)) => return Err(failure),
            Err(Refusal::Address(failure)) => last = Some(failure),
        }
    }
    Err(last.expect("at least one address was tried"))
}

/// Why one address could not be tunnelled to.
enum Refusal {
    /// The proxy cannot be reached or broke off: no other address will do.
    ProxyDown(Failure),
    /// The proxy refused this address.
    Address(Failure),
}

/// Asks `upstream` for a tunnel to `address`.
async fn connect_through(
    upstream: &EgressProxy,
    address: SocketAddr,
) -> Result<TcpStream, Refusal> {
    let proxy = &upstream.address;
    let failure = |what: String| Failure {
        kind: "proxy",
        message: format!("egress proxy {proxy}: {what}"),
    };
    let down = |what: String| Refusal::ProxyDown(failure(what));
    let mut stream = TcpStream::connect(proxy)
        .await
        .map_err(|err| down(format!("cannot connect: {err}")))?;
    let _ = stream.set_nodelay(true);
    // `SocketAddr` writes an IPv6 address in brackets, as CONNECT wants.
    let mut connect = format!("CONNECT {address} HTTP/1.1\r\nHost: {address}\r\n");
    if let Some(authorization) = &upstream.authorization {
        connect.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    connect.push_str("\r\n");
    stream
        .write_all(connect.as_bytes())
        .await
        .map_err(|err| down(format!("cannot send CONNECT: {err}")))?;
    let answer = read_head(&mut stream)
        .await
        .map_err(|err| down(format!("no answer to CONNECT {address}: {err}")))?;
    let status_line = answer.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some(code) if code.len() == 3 && code.starts_with('2') => Ok(stream),
        _ => Err(Refusal::Address(failure(format!(
            "answered {:?} to CONNECT {address}",
            status_line.chars().take(120).collect::<String>()
        )))),
    }
}

/// `host:port` or `[v6]:port` → the host (no brackets) and the port.
fn split_authority(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = authority.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// What the relay needs of reqwest's request.
#[derive(Debug, PartialEq, Eq)]
struct ConnectRequest {
    authority: String,
    authorization: Option<String>,
}

impl ConnectRequest {
    fn parse(head: &str) -> Option<Self> {
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        if first.next()? != "CONNECT" {
            return None;
        }
        let authority = first.next()?.to_owned();
        let authorization = lines.find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim().to_owned())
        });
        Some(Self {
            authority,
            authorization,
        })
    }
}

/// Reads up to the blank line that ends an HTTP head, one byte at a time so
/// that nothing after it is consumed (after a CONNECT answer, the tunnel's
/// bytes follow). Heads are small and this happens once per connection.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(std::io::Error::other("head too long"));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).map_err(|_| std::io::Error::other("head not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_url_gives_the_address_and_basic_credentials() {
        let proxy = EgressProxy::parse("http://us%40er:p%3Ass@proxy.internal:3128").unwrap();
        assert_eq!(proxy.address(), "proxy.internal:3128");
        assert_eq!(
            proxy.authorization.as_deref(),
            Some(format!("Basic {}", STANDARD.encode("us@er:p:ss")).as_str())
        );
        assert!(!format!("{proxy:?}").contains("p:ss"));
        let plain = EgressProxy::parse("http://10.0.0.1:8080/").unwrap();
        assert_eq!(plain.authorization, None);
    }

    #[test]
    fn other_proxy_urls_are_refused() {
        for bad in [
            "https://proxy:3128",
            "socks5://proxy:1080",
            "http://proxy",
            "http://proxy:3128/path",
            "proxy:3128",
        ] {
            assert!(EgressProxy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("example.com:443"),
            Some(("example.com", 443))
        );
        assert_eq!(split_authority("[::1]:8443"), Some(("::1", 8443)));
        assert_eq!(split_authority("example.com"), None);
        assert_eq!(split_authority(":443"), None);
    }

    #[test]
    fn a_connect_request_gives_its_authority_and_credentials() {
        let head = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
                    proxy-authorization: Basic abc\r\n\r\n";
        assert_eq!(
            ConnectRequest::parse(head),
            Some(ConnectRequest {
                authority: "example.com:443".into(),
                authorization: Some("Basic abc".into()),
            })
        );
        assert_eq!(ConnectRequest::parse("GET / HTTP/1.1\r\n\r\n"), None);
    }

    #[tokio::test]
    async fn a_head_is_read_up_to_its_blank_line_and_no_further() {
        let mut input: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nTLS";
        let head = read_head(&mut input).await.unwrap();
        assert_eq!(head, "HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(input, b"TLS");
        let mut long: &[u8] = &[b'a'; MAX_HEAD + 1];
        assert!(read_head(&mut long).await.is_err());
    }

    #[test]
    fn failures_are_kept_per_destination_for_attempts_that_started_before() {
        let failures = Failures::default();
        let before = Instant::now();
        failures.record(
            "a:443",
            Failure {
                kind: "proxy",
                message: "down".into(),
            },
        );
        assert_eq!(failures.since("a:443", before).unwrap().kind, "proxy");
        assert_eq!(failures.since("b:443", before), None);
        assert_eq!(failures.since("a:443", Instant::now()), None);
    }
}
