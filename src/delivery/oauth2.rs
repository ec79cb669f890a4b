//! Bearer tokens for webhooks with OAuth2 client credentials (RFC 6749
//! section 4.4): asked from the webhook's token URL through the delivery
//! client (same SSRF guard, roots, timeouts, no redirects), cached per
//! webhook in this process, and sent on every attempt. One token request
//! per webhook at a time, however many attempts wait for it; a 401 from the
//! endpoint drops the token and the attempt is sent once more with a fresh
//! one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use url::form_urlencoded;

use super::client::{Client, Outcome, Request, error_chain, host_is_public};
use crate::domain::{OAuth2Credentials, WebhookId};

/// The failure kind of an attempt that got no token.
pub const KIND: &str = "oauth2";
/// How much of a token endpoint's answer is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// A token without `expires_in` is kept this long at most (or until a 401).
const LONGEST_WITHOUT_EXPIRY: Duration = Duration::from_secs(3600);
/// A longer `expires_in` is taken as this: past a day, the endpoint's 401
/// is the better judge anyway.
const LONGEST_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Webhooks whose tokens are kept at once; past it, the idle ones go first.
const CAPACITY: usize = 10_000;
/// A webhook no attempt asked for this long (deleted, or idle) loses its
/// entry: a token without `expires_in` is not kept longer anyway.
const IDLE: Duration = Duration::from_secs(3600);
/// How often idle entries are looked for, besides when the cache is full.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// An access token. Its `Debug` never shows it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct AccessToken(Arc<str>);

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(REDACTED)")
    }
}

impl AccessToken {
    /// `Bearer <token>`, marked sensitive so that no header dump shows it.
    fn header(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .expect("checked to be visible ASCII when received");
        value.set_sensitive(true);
        value
    }
}

/// Why no token could be had: a message that names the token URL's host and
/// what went wrong, never the secret or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenFailure(String);

/// The tokens of this process's webhooks.
pub(super) struct Tokens {
    entries: Mutex<Entries>,
    capacity: usize,
}

struct Entries {
    /// Each webhook's slot, and when an attempt last asked for it.
    by_webhook: HashMap<WebhookId, (Arc<Slot>, Instant)>,
    pruned_at: Instant,
}

/// One webhook's token; held while a token is asked for, so that attempts
/// waiting meanwhile take that one rather than asking again.
#[derive(Default)]
struct Slot(tokio::sync::Mutex<Kept>);

#[derive(Default)]
struct Kept {
    token: Option<Token>,
    /// The last request's failure, for the attempts that waited for it.
    failure: Option<(Instant, OAuth2Credentials, TokenFailure)>,
}

struct Token {
    value: AccessToken,
    /// What it was asked with: credentials changed since mean a new one.
    credentials: OAuth2Credentials,
    received_at: Instant,
    /// When to ask for the next: 90% into its lifetime.
    refresh_at: Instant,
}

impl Tokens {
    pub(super) fn new() -> Self {
        Self::with_capacity(CAPACITY)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                by_webhook: HashMap::new(),
                pruned_at: Instant::now(),
            }),
            capacity,
        }
    }

    /// A token for `webhook`: the one kept while it is fresh, else a new
    /// one from the token URL (asked once for all the attempts waiting).
    async fn bearer(
        &self,
        client: &Client,
        webhook: WebhookId,
        credentials: &OAuth2Credentials,
    ) -> Result<AccessToken, TokenFailure> {
        let asked = Instant::now();
        let slot = self.slot(webhook, asked);
        let mut kept = slot.0.lock().await;
        if let Some(token) = &kept.token {
            // A token received after this attempt asked is as fresh as the
            // one it would ask for.
            let fresh = Instant::now() < token.refresh_at || token.received_at >= asked;
            if fresh && token.credentials == *credentials {
                return Ok(token.value.clone());
            }
        }
        if let Some((at, with, failure)) = &kept.failure {
            // It failed while this attempt waited: it fails the same way.
            if *at >= asked && with == credentials {
                return Err(failure.clone());
            }
        }
        kept.token = None;
        match request_token(client, credentials).await {
            Ok((value, lifetime)) => {
                let received_at = Instant::now();
                kept.token = Some(Token {
                    value: value.clone(),
                    credentials: credentials.clone(),
                    received_at,
                    refresh_at: received_at + lifetime.mul_f64(0.9),
                });
                kept.failure = None;
                Ok(value)
            }
            Err(failure) => {
                kept.failure = Some((Instant::now(), credentials.clone(), failure.clone()));
                Err(failure)
            }
        }
    }

    /// The endpoint refused `token`: it is not offered again.
    async fn refused(&self, webhook: WebhookId, token: &AccessToken) {
        let slot = self.slot(webhook, Instant::now());
        let mut kept = slot.0.lock().await;
        // Another attempt may have replaced it already.
        if kept.token.as_ref().is_some_and(|t| t.value == *token) {
            kept.token = None;
        }
    }

    /// `webhook`'s slot, made if needed; the cache stays within its
    /// capacity and loses the slots of webhooks idle (or deleted) for long.
    fn slot(&self, webhook: WebhookId, now: Instant) -> Arc<Slot> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((slot, used)) = entries.by_webhook.get_mut(&webhook) {
            *used = now;
            return slot.clone();
        }
        if entries.by_webhook.len() >= self.capacity
            || now.saturating_duration_since(entries.pruned_at) >= PRUNE_EVERY
        {
            entries.prune(now, self.capacity);
        }
        let slot = Arc::new(Slot::default());
        entries.by_webhook.insert(webhook, (slot.clone(), now));
        slot
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().by_webhook.len()
    }
}

impl Entries {
    /// Drops the slots no attempt holds that were idle for [`IDLE`], then,
    /// while there is no room for one more, the least recently used of
    /// those no attempt holds.
    fn prune(&mut self, now: Instant, capacity: usize) {
        self.pruned_at = now;
        let unheld = |slot: &Arc<Slot>| Arc::strong_count(slot) == 1;
        self.by_webhook
            .retain(|_, (slot, used)| !unheld(slot) || now.saturating_duration_since(*used) < IDLE);
        while self.by_webhook.len() >= capacity {
            let oldest = self
                .by_webhook
                .iter()
                .filter(|(_, (slot, _))| unheld(slot))
                .min_by_key(|(_, (_, used))| *used)
                .map(|(webhook, _)| *webhook);
            match oldest {
                Some(webhook) => self.by_webhook.remove(&webhook),
                // Every slot is in use: one more, for as long as they are.
                None => break,
            };
        }
    }
}

impl Client {
    /// Posts `request` with a bearer token got with `credentials`; on a
    /// 401, once more with a fresh token. A token that cannot be had is an
    /// attempt failure of kind [`KIND`]: the endpoint was not called. All
    /// of it within the attempt's timeout, as the lease expects of an
    /// attempt, however many requests it took.
    pub(super) async fn post_with_token(
        &self,
        request: &Request<'_>,
        credentials: &OAuth2Credentials,
        headers: HeaderMap,
    ) -> Outcome {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let webhook = request.webhook_id;
        let token = match self.token_by(deadline, webhook, credentials).await {
            Ok(token) => token,
            Err(failure) => return failed(failure),
        };
        let outcome = self
            .post_by(deadline, request, with_token(headers.clone(), &token))
            .await;
        if !matches!(outcome, Outcome::Answered { status: 401, .. }) {
            return outcome;
        }
        // Revoked, or expired before its time: one fresh token, one resend,
        // within this attempt.
        self.tokens.refused(webhook, &token).await;
        let fresh = match self.token_by(deadline, webhook, credentials).await {
            Ok(fresh) => fresh,
            Err(failure) => return failed(failure),
        };
        self.post_by(deadline, request, with_token(headers, &fresh))
            .await
    }

    async fn token_by(
        &self,
        deadline: tokio::time::Instant,
        webhook: WebhookId,
        credentials: &OAuth2Credentials,
    ) -> Result<AccessToken, TokenFailure> {
        let asked = self.tokens.bearer(self, webhook, credentials);
        tokio::time::timeout_at(deadline, asked)
            .await
            .unwrap_or_else(|_| {
                let host = credentials.settings.token_url.as_url().host_str();
                Err(TokenFailure(format!(
                    "no token from {} within the attempt's timeout",
                    host.unwrap_or("the token URL")
                )))
            })
    }

    async fn post_by(
        &self,
        deadline: tokio::time::Instant,
        request: &Request<'_>,
        headers: HeaderMap,
    ) -> Outcome {
        tokio::time::timeout_at(deadline, self.post(request, headers))
            .await
            .unwrap_or_else(|_| Outcome::Failed {
                kind: "timeout",
                message: "no answer within the attempt's timeout (its token requests included)"
                    .into(),
            })
    }
}

fn with_token(mut headers: HeaderMap, token: &AccessToken) -> HeaderMap {
    headers.insert(AUTHORIZATION, token.header());
    headers
}

fn failed(failure: TokenFailure) -> Outcome {
    Outcome::Failed {
        kind: KIND,
        message: failure.0,
    }
}

/// Asks `credentials.token_url` for a token: its value and how long it
/// lives.
async fn request_token(
    client: &Client,
    credentials: &OAuth2Credentials,
) -> Result<(AccessToken, Duration), TokenFailure> {
    let url = credentials.settings.token_url.as_url();
    let host = url.host_str().unwrap_or("the token URL");
    let fail = |why: String| TokenFailure(format!("no token from {host}: {why}"));
    // Literal addresses never reach the resolver, so they are vetted here.
    if !client.allow_private_targets && !host_is_public(url) {
        return Err(fail(
            "the token URL names a private or reserved address".into(),
        ));
    }
    let response = client
        .http
        .post(url.clone())
        .headers(token_request_headers(credentials))
        .body(token_request_body(credentials))
        .send()
        .await
        // Its URL is the token URL's: named by host only, and no more.
        .map_err(|err| fail(error_chain(&err.without_url())))?;
    let status = response.status();
    let answer = read_answer(response).await.map_err(fail)?;
    if !status.is_success() {
        return Err(fail(format!(
            "it answered {}{}",
            status.as_u16(),
            oauth_error(&answer)
        )));
    }
    parse_answer(&answer).map_err(fail)
}

/// Client authentication per section 2.3.1: HTTP Basic with the id and the
/// secret form-urlencoded first.
fn token_request_headers(credentials: &OAuth2Credentials) -> HeaderMap {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let pair = format!(
        "{}:{}",
        encode(&credentials.settings.client_id),
        encode(credentials.client_secret.expose())
    );
    let mut basic = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
        .expect("base64 is visible ASCII");
    basic.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, basic);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

fn token_request_body(credentials: &OAuth2Credentials) -> String {
    let settings = &credentials.settings;
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if !settings.scopes.is_empty() {
        form.append_pair("scope", &settings.scopes.join(" "));
    }
    if let Some(audience) = &settings.audience {
        form.append_pair("audience", audience);
    }
    form.finish()
}

async fn read_answer(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut read = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("the answer broke off: {}", error_chain(&err.without_url())))?
    {
        if read.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is over {} KiB",
                MAX_ANSWER_BYTES / 1024
            ));
        }
        read.extend_from_slice(&chunk);
    }
    Ok(read)
}

/// The `error` code of an error answer (section 5.2), when it has one that
/// is safe to repeat: a short token of the characters the RFC allows.
fn oauth_error(answer: &[u8]) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|json| json.get("error")?.as_str().map(str::to_owned));
    match code {
        Some(code)
            if !code.is_empty()
                && code.len() <= 64
                && code
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)) =>
        {
            format!(" ({code})")
        }
        _ => String::new(),
    }
}

/// A successful answer (section 5.1): the token, and how long to keep it.
fn parse_answer(answer: &[u8]) -> Result<(AccessToken, Duration), String> {
    let json: serde_json::Value =
        serde_json::from_slice(answer).map_err(|_| "the answer is not JSON".to_owned())?;
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no access_token")?;
    // It travels in a header: visible ASCII only (RFC 6750's b64token is
    // narrower still).
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the access_token is not visible ASCII".into());
    }
    match json.get("token_type").and_then(|v| v.as_str()) {
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err("the token_type is not bearer".into()),
        None => return Err("the answer has no token_type".into()),
    }
    let lifetime = match json.get("expires_in") {
        None | Some(serde_json::Value::Null) => LONGEST_WITHOUT_EXPIRY,
        Some(value) => expires_in(value)
            .ok_or("expires_in is not a number of seconds")?
            .min(LONGEST_LIFETIME),
    };
    Ok((AccessToken(Arc::from(token)), lifetime))
}

/// `expires_in` as seconds; some servers send it as a string.
fn expires_in(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(LONGEST_LIFETIME.as_secs_f64())))
}

#[cfg(test)]
mod tests;
