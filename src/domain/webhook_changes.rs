//! The changes an UpdateWebhook asks for, checked field by field as on
//! creation; only the fields its mask names apply.

use super::event_type::parse_event_list;
use super::headers::{HeaderInput, HeaderSet, WebhookHeader};
use super::oauth2::add_all;
use super::ordering::unknown_ordering;
use super::validation::quoted;
use super::webhook::{parse_description, parse_filter};
use super::{
    ClientCertificate, ClientCertificateInput, EventType, OAuth2Fields, OAuth2Write, Ordering,
    RetrySchedule, Violations, WebhookUrl,
};

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
    /// Replaces the whole set; an empty one clears it.
    pub headers: Option<HeaderSet>,
    /// `Some(None)` removes the client certificate.
    pub client_certificate: Option<Option<ClientCertificate>>,
    /// `Some(None)` removes the OAuth2 credentials.
    pub oauth2: Option<Option<OAuth2Write>>,
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
    pub headers: &'a [HeaderInput],
    /// The webhook's headers now: an empty value keeps one of them.
    pub current_headers: &'a [WebhookHeader],
    /// `None`: the request carried none (which removes it, if the mask
    /// names it).
    pub client_certificate: Option<&'a ClientCertificateInput>,
    /// `None`: the request carried none (removes them, if named).
    pub oauth2: Option<&'a OAuth2Fields>,
}

/// The most paths one update mask may hold; there are eight fields to name.
pub const MAX_MASK_PATHS: usize = 20;

impl WebhookChanges {
    /// True when the change affects how (or whether) pending deliveries are
    /// sent: a new URL, a pause or a resume, a rate limit, an ordering, a
    /// retry schedule, headers, a client certificate.
    pub fn changes_sending(&self) -> bool {
        self.url.is_some()
            || self.enabled.is_some()
            || self.rate_limit_per_second.is_some()
            || self.ordering.is_some()
            || self.retry_schedule.is_some()
            || self.headers.is_some()
            || self.client_certificate.is_some()
            || self.oauth2.is_some()
    }

    /// Applies the mask (`url`, `events`, `enabled`, `description`,
    /// `rate_limit_per_second`, `filter`, `ordering`, `retry_schedule`,
    /// `headers`, `client_certificate`, `oauth2`; at most [`MAX_MASK_PATHS`]
    /// paths) to the
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
                 rate_limit_per_second, filter, ordering, retry_schedule, headers, \
                 client_certificate, oauth2",
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
                "headers" => {
                    changes.headers = HeaderSet::parse(
                        fields.headers,
                        Some(fields.current_headers),
                        &mut violations,
                    )
                }
                "client_certificate" => match fields.client_certificate {
                    None => changes.client_certificate = Some(None),
                    Some(input) => match ClientCertificate::parse(input, chrono::Utc::now()) {
                        Ok(certificate) => changes.client_certificate = Some(Some(certificate)),
                        Err(found) => {
                            for v in found.into_reported() {
                                violations.add(v.field, v.description);
                            }
                        }
                    },
                },
                "oauth2" => match fields.oauth2 {
                    None => changes.oauth2 = Some(None),
                    Some(oauth2) => match OAuth2Write::parse(oauth2, allow_private_targets, true) {
                        Ok(write) => changes.oauth2 = Some(Some(write)),
                        Err(found) => add_all(&mut violations, found),
                    },
                },
                other => violations.add(
                    "update_mask",
                    format!(
                        "{} cannot be updated; use url, events, enabled, description, \
                         rate_limit_per_second, filter, ordering, retry_schedule, headers, \
                         client_certificate or oauth2",
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
            headers: &[],
            current_headers: &[],
            client_certificate: None,
            oauth2: None,
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
            headers: &[],
            current_headers: &[],
            client_certificate: None,
            oauth2: None,
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
    fn the_headers_path_checks_against_the_current_headers_and_clears_them() {
        use crate::domain::headers::NewValue;
        use secrecy::SecretString;
        let mask = vec!["headers".to_owned()];
        let current = [WebhookHeader {
            name: "x-api-key".into(),
            plain: false,
            value: None,
            len: 3,
        }];
        let keep = [HeaderInput {
            name: "X-Api-Key".into(),
            value: SecretString::from(""),
            plain: false,
        }];
        let kept = UpdateFields {
            headers: &keep,
            current_headers: &current,
            ..fields("", &[])
        };
        let changes = WebhookChanges::parse(&mask, kept, false).unwrap();
        let set = changes.headers.as_ref().unwrap();
        assert!(matches!(set.entries()[0].value, NewValue::Keep));
        assert!(changes.changes_sending());
        let unknown = UpdateFields {
            headers: &keep,
            ..fields("", &[])
        };
        let err = WebhookChanges::parse(&mask, unknown, false).unwrap_err();
        assert_eq!(err.reported()[0].field, "headers/x-api-key");
        let cleared = WebhookChanges::parse(&mask, fields("", &[]), false).unwrap();
        assert!(cleared.headers.unwrap().is_empty());
    }

    #[test]
    fn the_oauth2_path_sets_keeps_the_secret_when_empty_and_removes_when_unset() {
        let mask = vec!["oauth2".to_owned()];
        let given = OAuth2Fields {
            token_url: "https://auth.example.com/token".into(),
            client_id: "id".into(),
            client_secret: String::new(),
            ..Default::default()
        };
        let set = UpdateFields {
            oauth2: Some(&given),
            ..fields("", &[])
        };
        let set = WebhookChanges::parse(&mask, set, false).unwrap();
        let write = set.oauth2.clone().flatten().expect("set");
        assert_eq!(
            write.client_secret, None,
            "an empty secret keeps the stored one"
        );
        assert!(
            set.changes_sending(),
            "claims made before hold the old ones"
        );
        let removed = WebhookChanges::parse(&mask, fields("", &[]), false).unwrap();
        assert_eq!(removed.oauth2, Some(None));
        let bad = OAuth2Fields {
            client_id: String::new(),
            ..given
        };
        let bad = UpdateFields {
            oauth2: Some(&bad),
            ..fields("", &[])
        };
        let err = WebhookChanges::parse(&mask, bad, false).unwrap_err();
        assert_eq!(err.reported()[0].field, "oauth2.client_id");
    }
}
