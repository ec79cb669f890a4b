//! A registered webhook and the request to register one.

use chrono::{DateTime, Utc};

use super::event_type::parse_event_list;
use super::{EventType, OrganizationId, Violations, WebhookId, WebhookUrl};

/// A webhook as stored. It never holds the signing secret, so it can be
/// logged and returned freely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub url: WebhookUrl,
    /// The subscribed event types, without duplicates.
    pub events: Vec<EventType>,
    /// The `sub` of the token that registered it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A valid request to register a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub organization_id: OrganizationId,
    pub url: WebhookUrl,
    pub events: Vec<EventType>,
}

impl NewWebhook {
    /// Checks every field of a caller's request, reporting all that are wrong.
    pub fn parse<S: AsRef<str>>(
        organization_id: &str,
        url: &str,
        events: &[S],
        allow_private_targets: bool,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let organization_id =
            violations.check("organization_id", OrganizationId::parse(organization_id));
        let url = violations.check("url", WebhookUrl::parse(url, allow_private_targets));
        let events = violations.check("events", parse_event_list(events));
        match (organization_id, url, events) {
            (Some(organization_id), Some(url), Some(events)) => Ok(Self {
                organization_id,
                url,
                events,
            }),
            _ => Err(violations),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_field_at_once() {
        let err = NewWebhook::parse("nope", "http://example.com", &["x"], false).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|v| v.field).collect();
        assert_eq!(fields, ["organization_id", "url", "events"]);
    }
}
