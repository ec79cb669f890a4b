//! Which of an event's subscribers get it: those without a filter, and
//! those whose filter matches it. Publishing reads each subscriber's filter
//! text from its row, in the transaction that writes the deliveries, and
//! takes the compiled program from the process's cache by that text: a
//! filter changed by any process is a new text, so it is in force for the
//! first event published after its change commits, with nothing to
//! announce between processes.

use std::time::{Duration, Instant};

use super::entities::webhook;
use crate::domain::Event;
use crate::domain::filter::{EventView, FilterCache};

/// Subscribers the filters left out of publishing, by why.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Filtered {
    /// The filter evaluated to false.
    pub no_match: u64,
    /// The filter failed on the event (a missing field, a type mismatch,
    /// its cost limit), or no longer compiles: no delivery either.
    pub error: u64,
}

/// How long one event's filters may take together. One evaluation is
/// bounded (about 1 ms at worst, see `domain::filter`), but an
/// organization may have 1,000 webhooks, and the filters run inside the
/// transaction that stores the event: on SQLite, every organization's
/// writes wait for it. Typical filters take under a microsecond each, so
/// only filters written to be slow, on events written to be large, reach
/// this (1,000 typical filters take about 0.5 ms in a release build, 10 ms
/// in a debug one); past it, the event's remaining filters count as
/// failed. Only evaluating counts: compiling a filter the process has not
/// cached yet (after a start or an edit) does not.
pub(super) const EVENT_FILTER_TIME: Duration = Duration::from_millis(100);

/// The `subscribers` of `event` that get a delivery, in their order, and
/// how many were left out. The event is converted for the filters once,
/// and only when one of them has a filter.
pub(super) fn route<'w>(
    filters: &FilterCache,
    event: &Event,
    subscribers: &'w [webhook::Model],
) -> (Vec<&'w webhook::Model>, Filtered) {
    route_until(filters, event, subscribers, EVENT_FILTER_TIME)
}

/// [`route`], with the filters' time for this event given.
fn route_until<'w>(
    filters: &FilterCache,
    event: &Event,
    subscribers: &'w [webhook::Model],
    allowed: Duration,
) -> (Vec<&'w webhook::Model>, Filtered) {
    let mut filtered = Filtered::default();
    if subscribers.iter().all(|w| w.filter.is_none()) {
        return (subscribers.iter().collect(), filtered);
    }
    // Evaluating only: compiling a filter the cache does not hold yet (after
    // a start, or an edit) is not the event's doing.
    let mut spent = Duration::ZERO;
    let organization = event.organization_id.to_string();
    let view = EventView::new(
        &organization,
        event.event_type.as_str(),
        &event.labels,
        &event.data,
    );
    let mut out_of_time = false;
    let chosen = subscribers
        .iter()
        .filter(|w| {
            let Some(source) = &w.filter else {
                return true;
            };
            out_of_time = out_of_time || spent > allowed;
            let outcome = if out_of_time {
                Err(format!(
                    "the event's filters took over {allowed:?} together; the rest were not run"
                ))
            } else {
                filters
                    .get(source)
                    .map_err(|err| err.to_string())
                    .and_then(|filter| {
                        let started = Instant::now();
                        let outcome = filter.matches(&view).map_err(|err| err.to_string());
                        spent += started.elapsed();
                        outcome
                    })
            };
            match outcome {
                Ok(true) => true,
                Ok(false) => {
                    filtered.no_match += 1;
                    false
                }
                Err(reason) => {
                    tracing::debug!(webhook_id = %w.id, event_id = %event.id, %reason, "filter failed; no delivery");
                    filtered.error += 1;
                    false
                }
            }
        })
        .collect();
    if out_of_time {
        tracing::warn!(
            event_id = %event.id,
            organization_id = %event.organization_id,
            allowed = ?allowed,
            "an event's filters took too long; the rest counted as failed"
        );
    }
    (chosen, filtered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventType, OrganizationId};
    use chrono::Utc;

    fn webhook(filter: Option<&str>) -> webhook::Model {
        webhook::Model {
            id: uuid::Uuid::now_v7(),
            organization_id: uuid::Uuid::nil(),
            url: "https://example.com/".into(),
            events: serde_json::json!(["member.added"]),
            secret: String::new(),
            created_by: "test".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            description: String::new(),
            enabled: true,
            previous_secrets: None,
            rate_limit_per_second: 0,
            failing_since: None,
            disabled_reason: None,
            disabled_at: None,
            filter: filter.map(str::to_owned),
            ordered: false,
            retry_schedule: None,
            headers: None,
            client_certificate_chain: None,
            client_certificate_key: None,
            signature_scheme: "hmac-sha256".into(),
            public_key: None,
            oauth2: None,
            oauth2_secret: None,
        }
    }

    fn event(data: serde_json::Value) -> Event {
        let organization = OrganizationId::from_uuid(uuid::Uuid::nil());
        Event::new(organization, EventType::MEMBER_ADDED, data)
    }

    #[test]
    fn filters_choose_and_count_and_unfiltered_webhooks_always_get_the_event() {
        let cache = FilterCache::new(8);
        let subscribers = [
            webhook(None),
            webhook(Some("data.n > 1")),
            webhook(Some("data.n < 1")),
            webhook(Some("data.missing == 1")),
        ];
        let (chosen, filtered) = route(&cache, &event(serde_json::json!({"n": 2})), &subscribers);
        let ids: Vec<_> = chosen.iter().map(|w| w.id).collect();
        assert_eq!(ids, [subscribers[0].id, subscribers[1].id]);
        assert_eq!(
            filtered,
            Filtered {
                no_match: 1,
                error: 1
            }
        );
    }

    #[test]
    fn past_the_events_time_the_remaining_filters_count_as_failed() {
        let cache = FilterCache::new(8);
        let subscribers = [webhook(Some("true")), webhook(None), webhook(Some("true"))];
        let event = event(serde_json::json!({}));
        let (chosen, filtered) = route_until(&cache, &event, &subscribers, Duration::ZERO);
        let ids: Vec<_> = chosen.iter().map(|w| w.id).collect();
        // The first filter runs (nothing was spent yet) and takes some
        // time; the unfiltered webhook gets the event; the last filter is
        // not run.
        let ids_wanted = [subscribers[0].id, subscribers[1].id];
        assert_eq!(ids, ids_wanted);
        assert_eq!(
            filtered,
            Filtered {
                no_match: 0,
                error: 1
            }
        );
    }
}
