//! The HTTPS client that posts deliveries: rustls with the web roots plus an
//! optional private CA, no redirects, no proxies, and an SSRF guard at
//! connect time that only lets vetted addresses through.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use url::{Host, Url};

use super::oauth2::Tokens;
use super::retry::parse_retry_after;
use super::signature::{hex_signature, standard_signature};
use crate::domain::network::is_public;
use crate::domain::{EventId, OAuth2Credentials, SigningSecret, WebhookId};

/// How much of a response is read; the rest is discarded.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How much of a response is kept with the attempt.
pub const EXCERPT_BYTES: usize = 4 * 1024;

/// One attempt to send.
pub struct Request<'a> {
    pub url: &'a Url,
    pub event_id: EventId,
    pub event_type: &'a str,
    pub attempt: u32,
    /// Shared with every other attempt of the event: sent without a copy.
    pub body: &'a Arc<[u8]>,
    pub secret: &'a SigningSecret,
    /// Also signed with: older secrets still in a rotation's grace period.
    pub previous_secrets: &'a [SigningSecret],
    pub webhook_id: WebhookId,
    /// Sent with a bearer token these get (see `delivery::oauth2`).
    pub oauth2: Option<&'a OAuth2Credentials>,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Report {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration: Duration,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The receiver answered (any status).
    Answered {
        status: u16,
        excerpt: String,
        retry_after: Option<Duration>,
    },
    /// No answer: the kind (`timeout`, `connect`, `blocked`, `request`) and a message.
    Failed { kind: &'static str, message: String },
}

impl Report {
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Answered { status, .. } if (200..300).contains(&status))
    }
}

/// Posts deliveries.
pub struct Client {
    pub(super) http: reqwest::Client,
    pub(super) allow_private_targets: bool,
    /// The webhooks' OAuth2 tokens.
    pub(super) tokens: Tokens,
    /// How long one attempt may take, all its requests together.
    pub(super) timeout: Duration,
}

/// The resolver refused every address of a host.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private or reserved addresses")]
struct Blocked(String);

/// Resolves with the system resolver and drops every address that is not public.
struct GuardedResolver {
    allow_private_targets: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private_targets;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let vetted: Vec<SocketAddr> = found.filter(|a| allow || is_public(a.ip())).collect();
            if vetted.is_empty() {
                return Err(Box::new(Blocked(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(vetted.into_iter()) as Addrs)
        })
    }
}

impl Client {
    /// `ca_file`: extra PEM roots trusted beside the web's; `idle_per_host`:
    /// connections kept open to one host (scheme, name and port) between
    /// requests, whichever webhooks they served. TLS sessions are resumed
    /// (rustls' default in-memory cache) when a new connection is needed.
    pub fn new(
        timeout: Duration,
        ca_file: Option<&Path>,
        allow_private_targets: bool,
        idle_per_host: usize,
    ) -> anyhow::Result<Self> {
        let tls = crate::tls::client_config(ca_file, "WEBHOOK_CA_FILE")?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("webhook-service/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private_targets,
            }))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            allow_private_targets,
            tokens: Tokens::new(),
            timeout,
        })
    }

    /// Makes one attempt. Never fails: every problem is an attempt outcome.
    pub async fn send(&self, request: Request<'_>) -> Report {
        let started_at = chrono::Utc::now();
        let clock = Instant::now();
        let outcome = self.try_send(&request).await;
        Report {
            started_at,
            duration: clock.elapsed(),
            outcome,
        }
    }

    async fn try_send(&self, request: &Request<'_>) -> Outcome {
        // Literal addresses never reach the resolver, so they are vetted here.
        if !self.allow_private_targets && !host_is_public(request.url) {
            return Outcome::Failed {
                kind: "blocked",
                message: "the URL names a private or reserved address".into(),
            };
        }
        let headers = signed_headers(request);
        match request.oauth2 {
            Some(credentials) => self.post_with_token(request, credentials, headers).await,
            None => self.post(request, headers).await,
        }
    }

    /// Posts `request` with `headers` and reads what comes back.
    pub(super) async fn post(&self, request: &Request<'_>, headers: HeaderMap) -> Outcome {
        let sent = self
            .http
            .post(request.url.clone())
            .headers(headers)
            .body(bytes::Bytes::from_owner(request.body.clone()))
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => return failure(&err),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut read = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BYTES - read.len();
                    read.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if read.len() >= MAX_RESPONSE_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                // The status is known; a body cut short does not change it.
                Err(_) => break,
            }
        }
        read.truncate(EXCERPT_BYTES);
        Outcome::Answered {
            status,
            excerpt: String::from_utf8_lossy(&read).into_owned(),
            retry_after,
        }
    }
}

fn signed_headers(request: &Request<'_>) -> HeaderMap {
    let id = request.event_id.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let secret = request.secret.expose();
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("x-webhook-id", id.clone());
    put("x-webhook-event", request.event_type.to_owned());
    put("x-webhook-timestamp", timestamp.to_string());
    put("x-webhook-attempt", request.attempt.to_string());
    put("x-webhook-signature", hex_signature(secret, request.body));
    put("webhook-id", id.clone());
    put("webhook-timestamp", timestamp.to_string());
    // One `v1,` entry per live secret, newest first, as the spec allows.
    let signatures: Vec<String> = std::iter::once(request.secret)
        .chain(request.previous_secrets)
        .filter_map(|s| standard_signature(s.expose(), &id, timestamp, request.body))
        .collect();
    put("webhook-signature", signatures.join(" "));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

pub(super) fn host_is_public(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => true, // vetted by the resolver
        None => false,
    }
}

fn failure(err: &reqwest::Error) -> Outcome {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Outcome::Failed {
                kind: "blocked",
                message: blocked.to_string(),
            };
        }
        source = e.source();
    }
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "request"
    };
    Outcome::Failed {
        kind,
        message: error_chain(err),
    }
}

pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
