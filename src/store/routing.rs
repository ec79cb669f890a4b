//! Which of an event's subscribers get it: those without a filter, and
//! those whose filter matches it. Publishing reads each subscriber's filter
//! text from its row, in the transaction that writes the deliveries, and
//! takes the compiled program from the process's cache by that text: a
//! filter changed by any process is a new text, so it is in force for the
//! first event published after its change commits, with nothing to
//! announce between processes.

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

impl Filtered {
    pub fn add(&mut self, other: Filtered) {
        self.no_match += other.no_match;
        self.error += other.error;
    }
}

/// The `subscribers` of `event` that get a delivery, in their order, and
/// how many were left out. The event is converted for the filters once,
/// and only when one of them has a filter.
pub(super) fn route<'w>(
    filters: &FilterCache,
    event: &Event,
    subscribers: &'w [webhook::Model],
) -> (Vec<&'w webhook::Model>, Filtered) {
    let mut filtered = Filtered::default();
    if subscribers.iter().all(|w| w.filter.is_none()) {
        return (subscribers.iter().collect(), filtered);
    }
    let organization = event.organization_id.to_string();
    let view = EventView::new(
        &organization,
        event.event_type.as_str(),
        &event.labels,
        &event.data,
    );
    let chosen = subscribers
        .iter()
        .filter(|w| {
            let Some(source) = &w.filter else {
                return true;
            };
            let outcome = filters
                .get(source)
                .map_err(|err| err.to_string())
                .and_then(|filter| filter.matches(&view).map_err(|err| err.to_string()));
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
    (chosen, filtered)
}
