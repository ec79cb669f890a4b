//! A registered webhook and the request to register one.

use chrono::{DateTime, SecondsFormat, Utc};

use super::event_type::parse_event_list;
use super::filter::Filter;
use super::headers::{HeaderSet, WebhookHeader};
use super::validation::no_nul;
use super::{
    ClientCertificate, ClientCertificateInfo, Event, EventType, NewEvent, Ordering, OrderingKey,
    OrganizationId, PublicKey, RetrySchedule, SignatureScheme, Violations, WebhookId, WebhookUrl,
};
use super::{OAuth2Credentials, OAuth2Settings};

pub use super::webhook_changes::{MAX_MASK_PATHS, UpdateFields, WebhookChanges};

/// A webhook as stored. It never holds the signing secret, so it can be
/// logged and returned freely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub url: WebhookUrl,
    /// The subscribed event types, without duplicates.
    pub events: Vec<EventType>,
    /// A note for people.
    pub description: String,
    /// False while paused.
    pub enabled: bool,
    /// The `sub` of the token that registered it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When its current run of failed deliveries began; `None` while the
    /// last delivery to end succeeded (or none ended yet).
    pub failing_since: Option<DateTime<Utc>>,
    /// Set when the service disabled it for failing too long: why, with
    /// the last error, and when. Cleared when it is enabled again.
    pub disabled: Option<Disabled>,
    /// At most this many deliveries a second; 0 means no limit.
    pub rate_limit_per_second: u32,
    /// The CEL expression choosing which events of its types it gets (it
    /// compiled when written); `None` for all of them.
    pub filter: Option<String>,
    /// Whether its deliveries of one ordering key go out one at a time.
    pub ordering: Ordering,
    /// Its own waits between attempts; `None` for the service's default.
    pub retry_schedule: Option<RetrySchedule>,
    /// Sent with every attempt; the values of credentials are not here.
    pub headers: Vec<WebhookHeader>,
    /// The client certificate it presents to its endpoint, as reads show it.
    pub client_certificate: Option<ClientCertificateInfo>,
    /// How its deliveries are signed; fixed at creation.
    pub signature_scheme: SignatureScheme,
    /// An ed25519 webhook's current public key; `None` for HMAC.
    pub public_key: Option<PublicKey>,
    /// Its OAuth2 client credentials, without the secret; `None`: no token.
    pub oauth2: Option<OAuth2Settings>,
}

/// Why a webhook sends nothing now, said so that its owner knows what to
/// do: paused by someone, or disabled by the service for failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    Paused,
    /// With the service's reason.
    DisabledByService(String),
}

impl Stopped {
    /// A webhook that is not enabled, told apart by whether the service
    /// recorded a reason for disabling it.
    pub fn of(disabled_reason: Option<String>) -> Self {
        match disabled_reason {
            Some(reason) => Stopped::DisabledByService(reason),
            None => Stopped::Paused,
        }
    }

    /// What the caller is told, and how to go on.
    pub fn message(&self) -> String {
        match self {
            Stopped::Paused => "the webhook is paused; resume it first \
                (UpdateWebhook with enabled: true)"
                .to_owned(),
            Stopped::DisabledByService(reason) => format!(
                "the webhook was disabled by the service: {reason}; once the endpoint \
                 works, enable it (UpdateWebhook with enabled: true)"
            ),
        }
    }
}

/// Why and when the service disabled a webhook on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The `last_error` of a delivery cancelled because its webhook was
/// disabled starts with this, so RecoverWebhook can tell it from one
/// cancelled because its webhook was deleted. Attempt errors start with an
/// error kind, never with this.
pub const DISABLED_PREFIX: &str = "disabled: ";

/// Why a webhook failing since `since` is disabled, ending with the last
/// error it got.
pub fn disabled_reason(
    since: DateTime<Utc>,
    after: std::time::Duration,
    last_error: &str,
) -> String {
    format!(
        "every delivery failed since {} (longer than {}); last error: {last_error}",
        since.to_rfc3339_opts(SecondsFormat::Millis, true),
        humantime::format_duration(after),
    )
}

/// The `webhook.created` event announcing `webhook`: what was registered,
/// never the secret.
pub fn created_event(webhook: &Webhook) -> NewEvent {
    let data = serde_json::json!({
        "id": webhook.id.to_string(),
        "url": webhook.url.as_str(),
        "events": webhook.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "created_at": webhook.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    NewEvent {
        event: Event::new(webhook.organization_id, EventType::WEBHOOK_CREATED, data),
        idempotency_key: None,
        ordering_key: OrderingKey::default(),
        trace: None,
    }
}

/// The `webhook.disabled` event announcing that `webhook` was disabled.
pub fn disabled_event(webhook: &Webhook, disabled: &Disabled) -> NewEvent {
    let data = serde_json::json!({
        "id": webhook.id.to_string(),
        "url": webhook.url.as_str(),
        "reason": disabled.reason,
        "disabled_at": disabled.at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    NewEvent {
        event: Event::new(webhook.organization_id, EventType::WEBHOOK_DISABLED, data),
        idempotency_key: None,
        ordering_key: OrderingKey::default(),
        trace: None,
    }
}

/// A valid request to register a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub organization_id: OrganizationId,
    pub url: WebhookUrl,
    pub events: Vec<EventType>,
    /// A note for people, at most [`MAX_DESCRIPTION`] characters.
    pub description: String,
    /// At most this many deliveries a second; 0 means no limit.
    pub rate_limit_per_second: u32,
    /// A filter that compiles, or `None` for every event of its types.
    pub filter: Option<String>,
    /// Unordered unless asked.
    pub ordering: Ordering,
    /// `None` for the service's default.
    pub retry_schedule: Option<RetrySchedule>,
    /// Sent with every attempt; none unless asked.
    pub headers: HeaderSet,
    /// Presented in the TLS handshake to its endpoint; `None` for none.
    pub client_certificate: Option<ClientCertificate>,
    /// HMAC unless asked.
    pub signature_scheme: SignatureScheme,
    /// `None`: its attempts carry no bearer token.
    pub oauth2: Option<OAuth2Credentials>,
}

impl NewWebhook {
    /// Checks every field of a caller's request, reporting all that are wrong.
    pub fn parse<S: AsRef<str>>(
        organization_id: &str,
        url: &str,
        events: &[S],
        description: &str,
        filter: &str,
        allow_private_targets: bool,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let organization_id =
            violations.check("organization_id", OrganizationId::parse(organization_id));
        let url = violations.check("url", WebhookUrl::parse(url, allow_private_targets));
        let events = violations.check("events", parse_event_list(events));
        let description = violations.check("description", parse_description(description));
        let filter = violations.check("filter", parse_filter(filter));
        match (organization_id, url, events, description, filter) {
            (Some(organization_id), Some(url), Some(events), Some(description), Some(filter)) => {
                Ok(Self {
                    organization_id,
                    url,
                    events,
                    description,
                    rate_limit_per_second: 0,
                    filter,
                    ordering: Ordering::Unordered,
                    retry_schedule: None,
                    headers: HeaderSet::default(),
                    client_certificate: None,
                    signature_scheme: SignatureScheme::HmacSha256,
                    oauth2: None,
                })
            }
            _ => Err(violations),
        }
    }
}

/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// A description as given, if it is short enough and has no NUL.
pub(super) fn parse_description(text: &str) -> Result<String, String> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    no_nul(text)?;
    Ok(text.to_owned())
}

/// A filter as given, if it compiles: `None` for an empty one, which lets
/// every event of the subscribed types through. The reason of a refused one
/// starts with its line and column.
pub fn parse_filter(source: &str) -> Result<Option<String>, String> {
    if source.is_empty() {
        return Ok(None);
    }
    Filter::parse(source).map_err(|err| err.to_string())?;
    Ok(Some(source.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_field_at_once() {
        let err =
            NewWebhook::parse("nope", "http://example.com", &["X"], "", "", false).unwrap_err();
        let fields: Vec<_> = err.reported().iter().map(|v| v.field.as_ref()).collect();
        assert_eq!(fields, ["organization_id", "url", "events"]);
    }
}
