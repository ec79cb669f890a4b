//! A real HTTPS OAuth2 token server on loopback, with a CA of its own: it
//! checks HTTP Basic client authentication and the client credentials
//! grant, counts the requests, and issues `tok-1`, `tok-2`, ... that live
//! `expires_in` seconds (2 unless told). Its [`TokenServer::gate`] lets a
//! [`Receiver`](super::receiver::Receiver) answer 401 to anything but a
//! live token it issued.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::STANDARD};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::pki::{Ca, LOOPBACK_NAMES};
use super::receiver::Gate;

pub const CLIENT_ID: &str = "webhooks client";
/// Has characters that Basic authentication must form-urlencode first.
pub const CLIENT_SECRET: &str = "cs+/=:%-5c7e0d";

/// A token request as it arrived, once its client authenticated.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The form fields of its body.
    pub form: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    /// Requests that arrived, answered or held.
    arrived: usize,
    requests: Vec<TokenRequest>,
    /// Token -> when it stops being accepted.
    issued: HashMap<String, Instant>,
    /// The next requests get these statuses instead of a token.
    failures: Vec<u16>,
    /// Tokens issued so far.
    minted: usize,
}

pub struct TokenServer {
    pub port: u16,
    /// While true, requests are held unanswered (and not yet checked).
    held: Arc<tokio::sync::watch::Sender<bool>>,
    /// How long each token lives, as `expires_in`.
    lifetime: Duration,
    state: Arc<Mutex<State>>,
    ca: Ca,
    dir: TempDir,
}

impl TokenServer {
    /// A server issuing tokens that live 2 seconds.
    pub async fn start() -> Self {
        Self::issuing_for(Duration::from_secs(2)).await
    }

    /// A server issuing tokens that live `lifetime` (whole seconds).
    pub async fn issuing_for(lifetime: Duration) -> Self {
        let ca = Ca::new("token server test CA");
        let leaf = ca.server(&LOOPBACK_NAMES);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.certificate_der()], leaf.key_der())
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let held = Arc::new(tokio::sync::watch::Sender::new(false));
        let shared = Shared {
            state: state.clone(),
            held: held.clone(),
            lifetime,
        };
        tokio::spawn(serve(listener, acceptor, shared));
        Self {
            port,
            held,
            lifetime,
            state,
            ca,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `https://127.0.0.1:<port>/token`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/token", self.port)
    }

    /// A PEM file trusting this server and the roots in `other` (a
    /// receiver's CA file), for WEBHOOK_CA_FILE.
    pub fn ca_file_with(&self, other: &Path) -> PathBuf {
        let path = self.dir.path().join("roots.pem");
        let mut roots = std::fs::read_to_string(other).unwrap();
        roots.push('\n');
        roots.push_str(&self.ca.pem());
        std::fs::write(&path, roots).unwrap();
        path
    }

    /// Holds every request unanswered until [`TokenServer::release`].
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// Requests that arrived so far, held ones included.
    pub fn arrived(&self) -> usize {
        self.state.lock().unwrap().arrived
    }

    /// The token requests that authenticated, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The next `count` requests are answered `status`.
    pub fn fail_next(&self, count: usize, status: u16) {
        let mut state = self.state.lock().unwrap();
        state.failures.extend(std::iter::repeat_n(status, count));
    }

    /// `token` is refused from now on, however long it had to live.
    pub fn revoke(&self, token: &str) {
        self.state.lock().unwrap().issued.remove(token);
    }

    /// 401 unless the request carries `Authorization: Bearer <t>` with a
    /// token `t` this server issued that is still alive.
    pub fn gate(&self) -> Gate {
        let state = self.state.clone();
        Arc::new(move |headers| {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let state = state.lock().unwrap();
            let alive = token
                .and_then(|t| state.issued.get(t))
                .is_some_and(|until| Instant::now() < *until);
            (!alive).then_some(401)
        })
    }

    /// How long its tokens live.
    #[allow(dead_code)]
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    held: Arc<tokio::sync::watch::Sender<bool>>,
    lifetime: Duration,
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, shared: Shared) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let handler = service_fn(move |request| answer(request, shared.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), handler)
                .await;
        });
    }
}

fn json(status: u16, body: serde_json::Value) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(
    request: hyper::Request<Incoming>,
    shared: Shared,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let Shared {
        state,
        held,
        lifetime,
    } = shared;
    state.lock().unwrap().arrived += 1;
    let _ = held.subscribe().wait_for(|held| !held).await;
    let authenticated = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(basic_matches);
    let form_typed = request
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/x-www-form-urlencoded");
    let post = request.method() == hyper::Method::POST && request.uri().path() == "/token";
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !post || !form_typed {
        return Ok(json(400, serde_json::json!({"error": "invalid_request"})));
    }
    if !authenticated {
        return Ok(json(401, serde_json::json!({"error": "invalid_client"})));
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Ok(json(
            400,
            serde_json::json!({"error": "unsupported_grant_type"}),
        ));
    }
    let mut state = state.lock().unwrap();
    state.requests.push(TokenRequest { form });
    if !state.failures.is_empty() {
        let status = state.failures.remove(0);
        return Ok(json(
            status,
            serde_json::json!({"error": "temporarily_unavailable"}),
        ));
    }
    state.minted += 1;
    let token = format!("tok-{}", state.minted);
    state
        .issued
        .insert(token.clone(), Instant::now() + lifetime);
    Ok(json(
        200,
        serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
        }),
    ))
}

/// `Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 section
/// 2.3.1 says.
fn basic_matches(header: &str) -> bool {
    let Some(encoded) = header.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return false;
    };
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    decode(id) == CLIENT_ID && decode(secret) == CLIENT_SECRET
}
