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

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use super::client::{Client, Outcome, Request};
use crate::domain::{OAuth2Credentials, WebhookId};
use request::request_token;

mod request;

/// The failure kind of an attempt that got no token.
pub const KIND: &str = "oauth2";
/// Webhooks whose tokens are kept at once; past it, the idle ones go first.
const CAPACITY: usize = 10_000;
/// A webhook no attempt asked for this long (deleted, or idle) loses its
/// entry: a token without `expires_in` is not kept longer anyway.
const IDLE: Duration = Duration::from_secs(3600);
/// How often idle entries are looked for, besides when the cache is full.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// An access token. Its `Debug` never shows it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct AccessToken(pub(super) Arc<str>);

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
pub(super) struct TokenFailure(pub(super) String);

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
        let deadline = tokio::time::Instant::now() + self.timeout();
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

#[cfg(test)]
mod tests;
