//! A registered webhook and the request to register one.

use chrono::{DateTime, SecondsFormat, Utc};

use super::event_type::parse_event_list;
use super::filter::Filter;
use super::ordering::unknown_ordering;
use super::validation::{no_nul, quoted};
use super::{
    Event, EventType, NewEvent, Ordering, OrderingKey, OrganizationId, RetrySchedule, Violations,
    WebhookId, WebhookUrl,
};

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
                })
            }
            _ => Err(violations),
        }
    }
}

/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// A description as given, if it is short enough and has no NUL.
fn parse_description(text: &str) -> Result<String, String> {
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

/// The changes an update asks for: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookChanges {
    pub url: Option<WebhookUrl>,
    pub events: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub rate_limit_per_second: Option<u32>,
    /// `Some(None)` removes the filter.
    pub filter: Option<Option<String>>,
    pub ordering: Option<Ordering>,
    /// `Some(None)` goes back to the service's default.
    pub retry_schedule: Option<Option<RetrySchedule>>,
}

/// The fields of an update request; only those named in the mask apply.
pub struct UpdateFields<'a, S> {
    pub url: &'a str,
    pub events: &'a [S],
    pub enabled: bool,
    pub description: &'a str,
    pub rate_limit_per_second: u32,
    pub filter: &'a str,
    /// `Err`: a value the wire carried that is no ordering.
    pub ordering: Result<Ordering, i32>,
    /// (seconds, nanos) per step, as the wire carries them.
    pub retry_schedule: &'a [(i64, i32)],
}

/// The most paths one update mask may hold; there are eight fields to name.
pub const MAX_MASK_PATHS: usize = 20;

impl WebhookChanges {
    /// True when the change affects how (or whether) pending deliveries are
    /// sent: a new URL, a pause or a resume, a rate limit, an ordering, a
    /// retry schedule.
    pub fn changes_sending(&self) -> bool {
        self.url.is_some()
            || self.enabled.is_some()
            || self.rate_limit_per_second.is_some()
            || self.ordering.is_some()
            || self.retry_schedule.is_some()
    }

    /// Applies the mask (`url`, `events`, `enabled`, `description`,
    /// `rate_limit_per_second`, `filter`, `ordering`, `retry_schedule`; at
    /// most [`MAX_MASK_PATHS`] paths) to the
    /// request's fields, checking each named field as on creation.
    pub fn parse<S: AsRef<str>>(
        mask: &[String],
        fields: UpdateFields<'_, S>,
        allow_private_targets: bool,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let mut changes = Self::default();
        if mask.is_empty() {
            violations.add(
                "update_mask",
                "must name at least one of url, events, enabled, description, \
                 rate_limit_per_second, filter, ordering, retry_schedule",
            );
        }
        if mask.len() > MAX_MASK_PATHS {
            violations.add(
                "update_mask",
                format!(
                    "names {} fields; at most {MAX_MASK_PATHS} are accepted",
                    mask.len()
                ),
            );
            return Err(violations);
        }
        for path in mask {
            match path.as_str() {
                "url" => {
                    changes.url = violations
                        .check("url", WebhookUrl::parse(fields.url, allow_private_targets))
                }
                "events" => {
                    changes.events = violations.check("events", parse_event_list(fields.events))
                }
                "enabled" => changes.enabled = Some(fields.enabled),
                "description" => {
                    changes.description =
                        violations.check("description", parse_description(fields.description))
                }
                "rate_limit_per_second" => {
                    changes.rate_limit_per_second = Some(fields.rate_limit_per_second)
                }
                "filter" => {
                    changes.filter = violations.check("filter", parse_filter(fields.filter))
                }
                "ordering" => match fields.ordering {
                    Ok(ordering) => changes.ordering = Some(ordering),
                    Err(value) => violations.add("ordering", unknown_ordering(value)),
                },
                "retry_schedule" => {
                    changes.retry_schedule = violations.check(
                        "retry_schedule",
                        RetrySchedule::parse(fields.retry_schedule),
                    )
                }
                other => violations.add(
                    "update_mask",
                    format!(
                        "{} cannot be updated; use url, events, enabled, description, \
                         rate_limit_per_second, filter, ordering or retry_schedule",
                        quoted(other)
                    ),
                ),
            }
        }
        violations.into_result().map(|()| changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(url: &'a str, events: &'a [&'a str]) -> UpdateFields<'a, &'a str> {
        UpdateFields {
            url,
            events,
            enabled: false,
            description: "new",
            rate_limit_per_second: 0,
            filter: "",
            ordering: Ok(Ordering::Ordered),
            retry_schedule: &[(0, 100_000_000)],
        }
    }

    #[test]
    fn an_update_changes_only_what_its_mask_names() {
        let mask = vec!["description".to_owned(), "enabled".to_owned()];
        let changes = WebhookChanges::parse(&mask, fields("http://bad", &[]), false).unwrap();
        assert_eq!(changes.url, None);
        assert_eq!(changes.events, None);
        assert_eq!(changes.enabled, Some(false));
        assert_eq!(changes.description.as_deref(), Some("new"));
    }

    #[test]
    fn an_update_mask_must_be_present_and_known() {
        let empty = WebhookChanges::parse(&[], fields("", &[]), false).unwrap_err();
        assert_eq!(empty.reported()[0].field, "update_mask");
        let unknown = vec!["secret".to_owned()];
        let err = WebhookChanges::parse(&unknown, fields("", &[]), false).unwrap_err();
        assert_eq!(err.reported()[0].field, "update_mask");
        let named = vec!["url".to_owned(), "events".to_owned()];
        let err = WebhookChanges::parse(&named, fields("http://x", &[]), false).unwrap_err();
        let fields: Vec<_> = err.reported().iter().map(|v| v.field.as_ref()).collect();
        assert_eq!(fields, ["url", "events"]);
    }

    #[test]
    fn a_mask_of_more_than_twenty_paths_is_one_violation() {
        let mask = vec!["enabled".to_owned(); MAX_MASK_PATHS + 1];
        let err = WebhookChanges::parse(&mask, fields("", &[]), false).unwrap_err();
        assert_eq!(err.reported().len(), 1);
        assert_eq!(
            err.reported()[0].description,
            "names 21 fields; at most 20 are accepted"
        );
        let mask = vec!["enabled".to_owned(); MAX_MASK_PATHS];
        assert!(WebhookChanges::parse(&mask, fields("", &[]), false).is_ok());
    }

    #[test]
    fn a_description_with_nul_is_refused() {
        let mask = vec!["description".to_owned()];
        let fields = UpdateFields {
            url: "",
            events: &[] as &[&str],
            enabled: false,
            description: "a\0b",
            rate_limit_per_second: 0,
            filter: "",
            ordering: Ok(Ordering::Unordered),
            retry_schedule: &[],
        };
        let err = WebhookChanges::parse(&mask, fields, false).unwrap_err();
        assert_eq!(err.reported()[0].field, "description");
    }

    #[test]
    fn the_ordering_path_takes_a_known_ordering_only() {
        let mask = vec!["ordering".to_owned()];
        let changes = WebhookChanges::parse(&mask, fields("", &[]), false).unwrap();
        assert_eq!(changes.ordering, Some(Ordering::Ordered));
        assert!(changes.changes_sending());
        let unknown = UpdateFields {
            ordering: Err(5),
            ..fields("", &[])
        };
        let err = WebhookChanges::parse(&mask, unknown, false).unwrap_err();
        assert_eq!(err.reported()[0].field, "ordering");
        let untouched = WebhookChanges::parse(
            &["url".to_owned()],
            fields("https://example.com/", &[]),
            false,
        );
        assert_eq!(untouched.unwrap().ordering, None);
    }

    #[test]
    fn the_retry_schedule_path_sets_checks_and_clears_it() {
        let mask = vec!["retry_schedule".to_owned()];
        let set = WebhookChanges::parse(&mask, fields("", &[]), false).unwrap();
        assert_eq!(
            set.retry_schedule,
            Some(RetrySchedule::parse(&[(0, 100_000_000)]).unwrap())
        );
        assert!(set.changes_sending());
        let cleared = UpdateFields {
            retry_schedule: &[],
            ..fields("", &[])
        };
        let cleared = WebhookChanges::parse(&mask, cleared, false).unwrap();
        assert_eq!(cleared.retry_schedule, Some(None));
        let zero = UpdateFields {
            retry_schedule: &[(0, 0)],
            ..fields("", &[])
        };
        let err = WebhookChanges::parse(&mask, zero, false).unwrap_err();
        assert_eq!(err.reported()[0].field, "retry_schedule");
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let err =
            NewWebhook::parse("nope", "http://example.com", &["X"], "", "", false).unwrap_err();
        let fields: Vec<_> = err.reported().iter().map(|v| v.field.as_ref()).collect();
        assert_eq!(fields, ["organization_id", "url", "events"]);
    }
}
