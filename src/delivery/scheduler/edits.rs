//! Knowing when a delivery held in memory went stale: its webhook was
//! updated, rotated or deleted after the delivery's copy of it was read. A
//! stale delivery is given back to the store instead of sent, and claimed
//! again with the webhook as it is now (or not at all, once paused or gone).
//! (Named "edits": "changes" already names the update patch and the NOTIFY
//! message.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::domain::WebhookId;

/// When each webhook was last edited, as far as this process heard.
#[derive(Debug)]
pub(in crate::delivery) struct Edits {
    webhooks: HashMap<WebhookId, Instant>,
    /// When everything last may have changed (notifications were missed).
    all: Option<Instant>,
    /// Claims older than this are never sent, so older edits are forgotten.
    horizon: Duration,
}

impl Edits {
    pub(in crate::delivery) fn new(horizon: Duration) -> Self {
        Self {
            webhooks: HashMap::new(),
            all: None,
            horizon,
        }
    }

    /// Notes an edit of `webhook` (`None`: of anything) heard at `at`.
    pub(in crate::delivery) fn heard(&mut self, webhook: Option<WebhookId>, at: Instant) {
        match webhook {
            Some(id) => {
                self.webhooks.insert(id, at);
            }
            None => self.all = Some(at),
        }
        let horizon = self.horizon;
        self.webhooks
            .retain(|_, when| at.saturating_duration_since(*when) <= horizon);
    }

    /// True when a copy of `webhook` read at `loaded_at` predates an edit.
    pub(in crate::delivery) fn stale(&self, webhook: WebhookId, loaded_at: Instant) -> bool {
        let edited = self.webhooks.get(&webhook).copied().max(self.all);
        edited.is_some_and(|at| at >= loaded_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_read_before_its_webhook_changed_is_stale_and_only_that_one() {
        let (a, b) = (WebhookId::generate(), WebhookId::generate());
        let start = Instant::now();
        let mut edits = Edits::new(Duration::from_secs(60));
        edits.heard(Some(a), start + Duration::from_millis(5));
        assert!(edits.stale(a, start));
        assert!(!edits.stale(a, start + Duration::from_millis(10)));
        assert!(!edits.stale(b, start));
    }

    #[test]
    fn missed_notifications_make_every_older_claim_stale() {
        let start = Instant::now();
        let mut edits = Edits::new(Duration::from_secs(60));
        edits.heard(None, start + Duration::from_millis(5));
        assert!(edits.stale(WebhookId::generate(), start));
        assert!(!edits.stale(WebhookId::generate(), start + Duration::from_millis(6)));
    }

    #[test]
    fn changes_older_than_the_horizon_are_forgotten() {
        let start = Instant::now();
        let mut edits = Edits::new(Duration::from_secs(1));
        let a = WebhookId::generate();
        edits.heard(Some(a), start);
        edits.heard(Some(WebhookId::generate()), start + Duration::from_secs(2));
        assert!(!edits.webhooks.contains_key(&a));
    }
}
