//! Rate limits per endpoint: a webhook limited to `rate` deliveries a second
//! gets one every `1/rate` seconds, evenly spaced (no bursts). A delivery
//! whose turn has not come waits for it: it is not failed and uses no
//! attempt.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::domain::WebhookId;

/// Turns are only kept this far ahead of their use; past ones are dropped.
const KEEP: usize = 1024;

/// The next free turn of every rate-limited webhook.
#[derive(Debug, Default)]
pub(in crate::delivery) struct Rates {
    next: HashMap<WebhookId, Instant>,
}

impl Rates {
    /// When a delivery to `webhook`, limited to `rate` a second (0: no
    /// limit), may start if it asks at `now`; that turn is then taken.
    pub(in crate::delivery) fn turn(
        &mut self,
        webhook: WebhookId,
        rate: u32,
        now: Instant,
    ) -> Instant {
        if rate == 0 {
            self.next.remove(&webhook);
            return now;
        }
        let at = self
            .next
            .get(&webhook)
            .copied()
            .filter(|next| *next > now)
            .unwrap_or(now);
        self.next
            .insert(webhook, at + Duration::from_secs(1) / rate);
        if self.next.len() > KEEP {
            self.next.retain(|_, next| *next > now);
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_spaced_by_the_rate_and_free_once_it_is_idle() {
        let mut rates = Rates::default();
        let hook = WebhookId::generate();
        let now = Instant::now();
        let turns: Vec<_> = (0..4).map(|_| rates.turn(hook, 10, now)).collect();
        let gaps: Vec<_> = turns.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(turns[0], now);
        assert!(
            gaps.iter().all(|g| *g == Duration::from_millis(100)),
            "{gaps:?}"
        );
        // Long idle: the next one goes at once.
        let later = now + Duration::from_secs(10);
        assert_eq!(rates.turn(hook, 10, later), later);
    }

    #[test]
    fn no_limit_means_at_once_and_each_webhook_has_its_own_turns() {
        let mut rates = Rates::default();
        let (limited, free) = (WebhookId::generate(), WebhookId::generate());
        let now = Instant::now();
        rates.turn(limited, 1, now);
        assert_eq!(rates.turn(free, 0, now), now);
        assert_eq!(rates.turn(free, 0, now), now);
        assert_eq!(rates.turn(limited, 1, now), now + Duration::from_secs(1));
    }
}
