//! The HTTPS client that posts deliveries: rustls with the web roots plus an
//! optional private CA, no redirects, and an SSRF guard at connect time that
//! only lets vetted addresses through. Webhooks with a client certificate
//! get a client of their identity's (`identities`). No proxy, unless the
//! operator set an egress proxy: then every connection of every client goes
//! through the relay of `egress.rs`, which applies the same guard.

mod build;
mod headers;
mod identities;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use url::{Host, Url};

use super::egress::Relay;
use super::oauth2::Tokens;
use super::retry::parse_retry_after;
use super::signature::Signer;
use crate::domain::network::is_public;
use crate::domain::{ClientIdentity, EventId, OAuth2Credentials, TraceContext, WebhookId};
use crate::metrics::Metrics;
use build::{Blocked, Settings};
use headers::signed_headers;
use identities::CAPACITY as IDENTITY_CLIENTS;

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
    /// The webhook's live keys, parsed for this claim.
    pub signer: &'a Signer<'a>,
    /// The webhook's own headers, opened once per claim.
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// The client certificate to present, if the webhook has one.
    pub identity: Option<&'a ClientIdentity>,
    pub webhook_id: WebhookId,
    /// Sent with a bearer token these get (see `delivery::oauth2`).
    pub oauth2: Option<&'a OAuth2Credentials>,
    /// The attempt's span as `traceparent` and `tracestate`, when traces
    /// are on and propagated.
    pub trace: Option<&'a TraceContext>,
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
    /// No answer: the kind (`timeout`, `connect`, `blocked`, `request`, or
    /// `proxy` when the egress proxy failed) and a message.
    Failed { kind: &'static str, message: String },
}

impl Report {
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Answered { status, .. } if (200..300).contains(&status))
    }
}

/// Posts deliveries.
pub struct Client {
    /// For webhooks without a client certificate.
    shared: reqwest::Client,
    /// One per client identity, built on first use.
    identities: identities::Lru<reqwest::Client>,
    settings: Settings,
    metrics: Metrics,
    /// The egress proxy's relay, when there is one: it says why a tunnel
    /// failed.
    relay: Option<Relay>,
    /// The webhooks' OAuth2 tokens.
    pub(super) tokens: Tokens,
}

impl Client {
    /// `ca_file`: extra PEM roots trusted beside the web's; `idle_per_host`:
    /// connections kept open to one host (scheme, name and port) between
    /// requests, whichever webhooks they served (per client identity: those
    /// with a certificate have their own). TLS sessions are resumed
    /// (rustls' default in-memory cache) when a new connection is needed.
    /// `relay`: the egress proxy's, through which every request goes.
    pub fn new(
        timeout: Duration,
        ca_file: Option<&Path>,
        allow_private_targets: bool,
        idle_per_host: usize,
        metrics: Metrics,
        relay: Option<Relay>,
    ) -> anyhow::Result<Self> {
        let settings = Settings {
            timeout,
            roots: Arc::new(crate::tls::roots(ca_file, "WEBHOOK_CA_FILE")?),
            allow_private_targets,
            idle_per_host,
            proxy: relay.as_ref().map(Relay::reqwest_proxy).transpose()?,
        };
        Ok(Self {
            shared: build::shared(&settings)?,
            identities: identities::Lru::new(IDENTITY_CLIENTS),
            settings,
            metrics,
            relay,
            tokens: Tokens::new(),
        })
    }

    /// The client to send with: the shared one, or the identity's.
    fn http(&self, identity: Option<&ClientIdentity>) -> Result<reqwest::Client, Outcome> {
        let Some(identity) = identity else {
            return Ok(self.shared.clone());
        };
        let built = self.identities.get_or_build(identity.digest(), || {
            build::with_identity(&self.settings, identity)
        });
        match built {
            Ok((client, evicted)) => {
                if evicted {
                    self.metrics.identity_client_evicted();
                }
                Ok(client)
            }
            Err(err) => Err(Outcome::Failed {
                kind: "request",
                message: format!("cannot use the webhook's client certificate: {err:#}"),
            }),
        }
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
        if !self.settings.allow_private_targets && !host_is_public(request.url) {
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

    /// The client that fetches OAuth2 tokens: the shared one (no client
    /// certificate), with the SSRF guard and the egress proxy.
    pub(super) fn token_client(&self) -> &reqwest::Client {
        &self.shared
    }

    /// Whether private and reserved addresses may be reached.
    pub(super) fn allows_private_targets(&self) -> bool {
        self.settings.allow_private_targets
    }

    /// How long one attempt may take, all its requests together.
    pub(super) fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Posts `request` with `headers` and reads what comes back.
    pub(super) async fn post(&self, request: &Request<'_>, headers: HeaderMap) -> Outcome {
        let started = Instant::now();
        let http = match self.http(request.identity) {
            Ok(http) => http,
            Err(outcome) => return outcome,
        };
        let sent = http
            .post(request.url.clone())
            .headers(headers)
            .body(bytes::Bytes::from_owner(request.body.clone()))
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => return self.failure(&err, request.url, started),
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

pub(super) fn host_is_public(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => true, // vetted by the resolver
        None => false,
    }
}

impl Client {
    /// What a request that got no answer came to. Through the egress proxy,
    /// a tunnel that could not be opened says why in the relay.
    fn failure(&self, err: &reqwest::Error, url: &Url, started: Instant) -> Outcome {
        if let Some(relay) = &self.relay
            && err.is_connect()
            && let Some(host) = url.host_str()
            && let Some(port) = url.port_or_known_default()
            && let Some(failure) = relay.failure(&format!("{host}:{port}"), started)
        {
            return Outcome::Failed {
                kind: failure.kind,
                message: failure.message,
            };
        }
        failure(err)
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
