//! Rate limits across processes (PostgreSQL): the turns are the database's
//! (`Store::take_turn`), one every `step` per webhook for all processes
//! together. A delivery takes a turn only within its `reach`, the time it
//! may still wait and be sent inside its lease; a turn taken and not used
//! leaves a gap, never a burst. When a webhook's turns are booked beyond
//! any fresh claim's reach, this process remembers it and neither claims
//! nor accepts its deliveries until the bookings come within reach.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::domain::WebhookId;

/// The time between two turns of a webhook limited to `rate` a second,
/// rounded up to the microsecond the database keeps, never below.
pub(in crate::delivery) fn step(rate: u32) -> Duration {
    Duration::from_micros(1_000_000u64.div_ceil(u64::from(rate.max(1))))
}

/// How much longer a delivery read `waited` ago may wait for its turn: it
/// must still start with a whole attempt's `timeout` left of its `lease`
/// (see the dispatcher's `expired`); a tenth of that spare time is kept for
/// the round trips.
pub(in crate::delivery) fn reach(lease: Duration, timeout: Duration, waited: Duration) -> Duration {
    let spare = lease.saturating_sub(timeout);
    (spare - spare / 10).saturating_sub(waited)
}

/// Webhooks whose free turns are beyond a fresh claim's reach, and until when.
#[derive(Debug, Default)]
pub(in crate::delivery) struct Booked {
    until: HashMap<WebhookId, Instant>,
}

impl Booked {
    /// True when no delivery to `webhook` could get a turn in reach now.
    /// The clock is read only for a webhook that was booked.
    pub(in crate::delivery) fn booked(
        &self,
        webhook: WebhookId,
        now: impl FnOnce() -> Instant,
    ) -> bool {
        if self.until.is_empty() {
            return false;
        }
        self.until.get(&webhook).is_some_and(|until| *until > now())
    }

    /// The database said, at `now`, that `webhook`'s next free turn is
    /// `next_free` ahead; a fresh claim may wait `fresh_reach`.
    pub(in crate::delivery) fn heard(
        &mut self,
        webhook: WebhookId,
        now: Instant,
        next_free: Duration,
        fresh_reach: Duration,
    ) {
        match next_free.checked_sub(fresh_reach) {
            Some(beyond) if !beyond.is_zero() => {
                self.until.insert(webhook, now + beyond);
            }
            _ => {
                self.until.remove(&webhook);
            }
        }
    }

    /// The webhooks booked now (those whose bookings came in reach are
    /// forgotten).
    pub(in crate::delivery) fn now_booked(
        &mut self,
        now: impl FnOnce() -> Instant,
    ) -> Vec<WebhookId> {
        if self.until.is_empty() {
            return Vec::new();
        }
        let now = now();
        self.until.retain(|_, until| *until > now);
        self.until.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_never_allow_more_than_the_rate() {
        assert_eq!(step(1), Duration::from_secs(1));
        assert_eq!(step(4), Duration::from_millis(250));
        assert_eq!(step(3), Duration::from_micros(333_334));
        assert!(step(7) * 7 >= Duration::from_secs(1));
        assert_eq!(step(2_000_000), Duration::from_micros(1));
    }

    #[test]
    fn the_reach_leaves_a_whole_attempt_in_the_lease_and_shrinks_as_a_claim_waits() {
        let (lease, timeout) = (Duration::from_secs(40), Duration::from_secs(10));
        assert_eq!(
            reach(lease, timeout, Duration::ZERO),
            Duration::from_secs(27)
        );
        assert_eq!(
            reach(lease, timeout, Duration::from_secs(7)),
            Duration::from_secs(20)
        );
        assert_eq!(
            reach(lease, timeout, Duration::from_secs(30)),
            Duration::ZERO
        );
    }

    #[test]
    fn a_webhook_is_booked_while_its_next_free_turn_is_beyond_a_fresh_claim_s_reach() {
        let mut booked = Booked::default();
        let (busy, calm) = (WebhookId::generate(), WebhookId::generate());
        let now = Instant::now();
        let reach = Duration::from_secs(27);
        booked.heard(busy, now, Duration::from_secs(30), reach);
        booked.heard(calm, now, Duration::from_secs(27), reach);
        assert!(booked.booked(busy, || now));
        assert!(booked.booked(busy, || now + Duration::from_millis(2_999)));
        assert!(!booked.booked(busy, || now + Duration::from_secs(3)));
        assert!(!booked.booked(calm, || now));
        assert_eq!(booked.now_booked(|| now), [busy]);
        assert!(
            booked
                .now_booked(|| now + Duration::from_secs(3))
                .is_empty()
        );
        // A turn taken later says the bookings came in reach.
        booked.heard(busy, now, Duration::from_secs(40), reach);
        booked.heard(busy, now, Duration::from_secs(1), reach);
        assert!(!booked.booked(busy, || now));
    }
}
