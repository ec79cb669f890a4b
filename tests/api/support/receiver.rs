//! A real HTTPS receiver for deliveries: hyper + rustls with a CA made at test
//! time. It records each request's headers and raw body and answers a
//! scripted sequence of replies per path (200 once the script runs out).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use super::pki::{Ca, LOOPBACK_NAMES};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
    body: Option<Vec<u8>>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: None,
        }
    }

    /// Answers these bytes instead of `answer <status>`.
    #[allow(dead_code)]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Waits this long before answering (longer than the client's timeout: a hang).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered.
    pub status: u16,
    /// Where it came from: with several senders, which one sent it.
    pub peer: SocketAddr,
    /// When its answer was handed to the connection; `None` while it is
    /// held, and for good when its connection went first.
    pub answered_at: Option<Instant>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    scripts: HashMap<String, VecDeque<Reply>>,
    /// Paths that always get this reply once their script runs out.
    always: HashMap<String, Reply>,
    /// Per path: requests being answered now, and the most there were at once.
    in_flight: HashMap<String, (usize, usize)>,
    /// Paths whose requests are also counted in flight per the value at
    /// this JSON pointer of their body (as `<path>#<value>`).
    in_flight_by: HashMap<String, &'static str>,
    /// Paths whose requests are first judged by their headers: the status
    /// the gate gives, if any, answers them (their script waits).
    gates: HashMap<String, Gate>,
}

/// Refuses a request by its headers: `Some(status)` answers it so.
pub type Gate = Arc<dyn Fn(&HeaderMap) -> Option<u16> + Send + Sync>;

pub struct Receiver {
    pub port: u16,
    /// The test CA's certificate, for WEBHOOK_CA_FILE.
    pub ca_file: PathBuf,
    state: Arc<Mutex<State>>,
    /// Told when a request arrives and when one is answered.
    arrived: Arc<Notify>,
    /// While true, requests are held unanswered.
    paused: Arc<tokio::sync::watch::Sender<bool>>,
    /// While true, no answer is given, even to requests already in.
    frozen: Arc<tokio::sync::watch::Sender<bool>>,
    handshakes: Arc<Handshakes>,
    _dir: TempDir,
}

/// TLS handshakes completed so far: each is a new connection.
#[derive(Debug, Default)]
pub struct Handshakes {
    pub full: AtomicU64,
    pub resumed: AtomicU64,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Like [`Receiver::start`], but its TLS handshake demands a client
    /// certificate that `client_ca` signed (mutual TLS).
    pub async fn requiring_client_certificates(client_ca: &Ca) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca.certificate_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        Self::start_with(Some(verifier)).await
    }

    async fn start_with(
        client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("webhook-service test CA");
        let leaf = ca.server(&LOOPBACK_NAMES);
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap();
        let tls = match client_verifier {
            Some(verifier) => tls.with_client_cert_verifier(verifier),
            None => tls.with_no_client_auth(),
        };
        let tls = tls
            .with_single_cert(vec![leaf.certificate_der()], leaf.key_der())
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        // Both loopbacks, so names resolving to either reach us.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let v6 = TcpListener::bind(("::1", port)).await.ok();

        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let paused = Arc::new(tokio::sync::watch::Sender::new(false));
        let frozen = Arc::new(tokio::sync::watch::Sender::new(false));
        let handshakes = Arc::new(Handshakes::default());
        for listener in std::iter::once(listener).chain(v6) {
            let shared = Shared {
                state: state.clone(),
                arrived: arrived.clone(),
                paused: paused.clone(),
                frozen: frozen.clone(),
                handshakes: handshakes.clone(),
            };
            tokio::spawn(serve(listener, acceptor.clone(), shared));
        }
        Self {
            port,
            ca_file,
            state,
            arrived,
            paused,
            frozen,
            handshakes,
            _dir: dir,
        }
    }

    /// TLS handshakes so far, full and resumed: the connections opened.
    pub fn handshakes(&self) -> (u64, u64) {
        (
            self.handshakes.full.load(Ordering::Relaxed),
            self.handshakes.resumed.load(Ordering::Relaxed),
        )
    }

    /// Holds every request unanswered until [`Receiver::release`].
    #[allow(dead_code)]
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    #[allow(dead_code)]
    pub fn release(&self) {
        self.paused.send_replace(false);
    }

    /// Gives no answer from now until [`Receiver::thaw`], to requests
    /// already in (whatever is left of their delay) as to new ones: once
    /// this returns, every request with an `answered_at` was answered
    /// before, and no other will be meanwhile.
    #[allow(dead_code)]
    pub fn freeze(&self) {
        // Under the lock that answering takes to stamp `answered_at`.
        let _state = self.state.lock().unwrap();
        self.frozen.send_replace(true);
    }

    #[allow(dead_code)]
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }

    /// `path` answers `status` whenever it has no script.
    #[allow(dead_code)]
    pub fn always(&self, path: &str, status: u16) {
        self.always_reply(path, Reply::status(status));
    }

    /// `path` answers `reply` whenever it has no script.
    #[allow(dead_code)]
    pub fn always_reply(&self, path: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .always
            .insert(path.to_owned(), reply);
    }

    /// How many requests arrived, all paths together.
    #[allow(dead_code)]
    pub fn total(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Requests to `path` go through `gate` first (e.g. a bearer token check).
    #[allow(dead_code)]
    pub fn gate(&self, path: &str, gate: Gate) {
        self.state
            .lock()
            .unwrap()
            .gates
            .insert(path.to_owned(), gate);
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The next requests to `path` get these replies, in order.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut state = self.state.lock().unwrap();
        state
            .scripts
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Counts `path`'s requests in flight per the value at `pointer` in
    /// their JSON body too: [`Self::peak_in_flight`] of `<path>#<value>`.
    #[allow(dead_code)]
    pub fn in_flight_by(&self, path: &str, pointer: &'static str) {
        let mut state = self.state.lock().unwrap();
        state.in_flight_by.insert(path.to_owned(), pointer);
    }

    /// The most requests to `path` that were in flight at once (arrived,
    /// held or answering, not yet answered), so far.
    pub fn peak_in_flight(&self, path: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.in_flight.get(path).map_or(0, |(_, peak)| *peak)
    }

    /// Requests to `path` in flight now (arrived, held or answering).
    pub fn in_flight(&self, path: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.in_flight.get(path).map_or(0, |(now, _)| *now)
    }

    /// Waits until no request to `path` is in flight: every one that
    /// arrived got its answer. Panics after `limit`.
    pub async fn wait_until_answered(&self, path: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let changed = self.arrived.notified();
            let open = self.in_flight(path);
            if open == 0 {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{path} still has {open} requests open");
            let _ = tokio::time::timeout(left, changed).await;
        }
    }

    /// Requests to `path` that arrived and have no answer yet: held, or
    /// left when their sender went away.
    #[allow(dead_code)]
    pub fn unanswered(&self, path: &str) -> Vec<Received> {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .filter(|r| r.path == path && r.answered_at.is_none())
            .cloned()
            .collect()
    }

    pub fn all_received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `path` got at least `count` requests; panics after `limit`.
    pub async fn wait_for(&self, path: &str, count: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.arrived.notified();
            let got = self.received(path);
            if got.len() >= count {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{path} got {} requests, expected {count}",
                got.len()
            );
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    paused: Arc<tokio::sync::watch::Sender<bool>>,
    frozen: Arc<tokio::sync::watch::Sender<bool>>,
    handshakes: Arc<Handshakes>,
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, shared: Shared) {
    while let Ok((tcp, peer)) = listener.accept().await {
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let kind = tls.get_ref().1.handshake_kind();
            let counter = match kind {
                Some(rustls::HandshakeKind::Resumed) => &shared.handshakes.resumed,
                _ => &shared.handshakes.full,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let handler = service_fn(move |request| answer(request, shared.clone(), peer));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), handler)
                .await;
        });
    }
}

/// Counts a request to its path as in flight until dropped, and then tells
/// the waiters (see [`Receiver::wait_until_answered`]).
struct InFlight {
    state: Arc<Mutex<State>>,
    answered: Arc<Notify>,
    path: String,
}

impl InFlight {
    fn new(state: &Arc<Mutex<State>>, answered: &Arc<Notify>, path: &str) -> Self {
        let mut locked = state.lock().unwrap();
        let (now, peak) = locked.in_flight.entry(path.to_owned()).or_default();
        *now += 1;
        *peak = (*peak).max(*now);
        Self {
            state: state.clone(),
            answered: answered.clone(),
            path: path.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((now, _)) = self.state.lock().unwrap().in_flight.get_mut(&self.path) {
            *now -= 1;
        }
        self.answered.notify_waiters();
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    shared: Shared,
    peer: SocketAddr,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let _in_flight = InFlight::new(&shared.state, &shared.arrived, request.uri().path());
    let _ = shared.paused.subscribe().wait_for(|paused| !paused).await;
    let Shared {
        state,
        arrived,
        frozen,
        ..
    } = shared;
    let at = Instant::now();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let tag = {
        let state = state.lock().unwrap();
        state.in_flight_by.get(&path).map(|pointer| {
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let value = json.pointer(pointer).cloned().unwrap_or_default();
            format!(
                "{path}#{}",
                value.as_str().map_or(value.to_string(), str::to_owned)
            )
        })
    };
    let _tagged = tag.map(|tag| InFlight::new(&state, &arrived, &tag));
    let (reply, index) = {
        let mut state = state.lock().unwrap();
        let always = state
            .always
            .get(&path)
            .cloned()
            .unwrap_or_else(|| Reply::status(200));
        let refused = state.gates.get(&path).and_then(|gate| gate(&headers));
        let reply = match refused {
            Some(status) => Reply::status(status),
            None => state
                .scripts
                .get_mut(&path)
                .and_then(|s| s.pop_front())
                .unwrap_or(always),
        };
        state.received.push(Received {
            path: path.clone(),
            headers,
            body,
            at,
            status: reply.status,
            peer,
            answered_at: None,
        });
        (reply, state.received.len() - 1)
    };
    arrived.notify_waiters();
    tokio::time::sleep(reply.delay).await;
    // Not reached when the connection closes meanwhile: hyper drops this
    // future then.
    loop {
        let mut thawed = frozen.subscribe();
        {
            let mut state = state.lock().unwrap();
            if !*thawed.borrow_and_update() {
                state.received[index].answered_at = Some(Instant::now());
                break;
            }
        }
        let _ = thawed.changed().await;
    }
    let mut response = hyper::Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    let body = reply
        .body
        .unwrap_or_else(|| format!("answer {}", reply.status).into_bytes());
    Ok(response.body(Full::new(Bytes::from(body))).unwrap())
}
