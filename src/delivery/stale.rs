//! Knowing when a delivery held in memory went stale: its webhook was
//! updated, rotated or deleted after the delivery's copy of it was read. A
//! stale delivery is given back to the store instead of sent, and claimed
//! again with the webhook as it is now (or not at all, once paused or gone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Wakeup;
use crate::domain::WebhookId;
use crate::store::{Change, Claimed, Store};

/// When each webhook last changed, as far as this process heard.
#[derive(Debug)]
pub(super) struct Changes {
    webhooks: HashMap<WebhookId, Instant>,
    /// When everything last may have changed (notifications were missed).
    all: Option<Instant>,
    /// Claims older than this are never sent, so older changes are forgotten.
    horizon: Duration,
}

impl Changes {
    pub(super) fn new(horizon: Duration) -> Self {
        Self {
            webhooks: HashMap::new(),
            all: None,
            horizon,
        }
    }

    /// Notes a change heard at `at`.
    pub(super) fn heard(&mut self, change: Change, at: Instant) {
        match change {
            Change::Webhook(id) => {
                self.webhooks.insert(id, at);
            }
            Change::Unknown => self.all = Some(at),
        }
        let horizon = self.horizon;
        self.webhooks
            .retain(|_, when| at.saturating_duration_since(*when) <= horizon);
    }

    /// True when `claim` was read before a change of its webhook.
    pub(super) fn stale(&self, claim: &Claimed) -> bool {
        let changed = self.webhooks.get(&claim.webhook_id).copied().max(self.all);
        changed.is_some_and(|at| at >= claim.loaded_at)
    }
}

/// The shared registry.
pub(super) type SharedChanges = Arc<Mutex<Changes>>;

/// Until `shutdown`, passes the changes other processes announce to the
/// workers. Returns at once where there are no other processes (SQLite).
pub(super) async fn watch(
    store: Store,
    wakeup: Wakeup,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut listener = None;
    loop {
        if listener.is_none() {
            match store.listen_for_changes().await {
                Ok(None) => return,
                Ok(Some(connected)) => {
                    // Whatever changed while nobody listened.
                    wakeup.changed(Change::Unknown);
                    listener = Some(connected);
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "cannot listen for webhook changes; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = &mut shutdown => return,
                    }
                }
            }
        }
        let Some(connected) = listener.as_mut() else {
            continue;
        };
        tokio::select! {
            heard = connected.next() => match heard {
                Ok(change) => wakeup.changed(change),
                Err(err) => {
                    tracing::warn!(error = ?err, "lost the webhook change listener; reconnecting");
                    listener = None;
                }
            },
            _ = &mut shutdown => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::{DeliveryId, EventId, SigningSecret, WebhookUrl};
    use crate::store::Lease;

    fn claim(webhook: WebhookId, loaded_at: Instant) -> Claimed {
        let id = DeliveryId::generate();
        Claimed {
            id,
            organization_id: crate::domain::OrganizationId::from_uuid(uuid::Uuid::new_v4()),
            webhook_id: webhook,
            event_id: EventId::generate(),
            event_type: "member.added".into(),
            event_created_at: chrono::Utc::now(),
            attempt: 1,
            url: WebhookUrl::from_stored("https://example.com/hook").unwrap(),
            secret: SigningSecret::generate(),
            previous_secrets: Vec::new(),
            body: Arc::from(&b"{}"[..]),
            rate_limit_per_second: 0,
            lease: Lease {
                delivery: id,
                until: chrono::Utc::now(),
            },
            loaded_at,
            admission: None,
            ordering_key: None,
        }
    }

    #[test]
    fn a_claim_read_before_its_webhook_changed_is_stale_and_only_that_one() {
        let (a, b) = (WebhookId::generate(), WebhookId::generate());
        let start = Instant::now();
        let mut changes = Changes::new(Duration::from_secs(60));
        let before = claim(a, start);
        changes.heard(Change::Webhook(a), start + Duration::from_millis(5));
        let after = claim(a, start + Duration::from_millis(10));
        assert!(changes.stale(&before));
        assert!(!changes.stale(&after));
        assert!(!changes.stale(&claim(b, start)));
    }

    #[test]
    fn missed_notifications_make_every_older_claim_stale() {
        let start = Instant::now();
        let mut changes = Changes::new(Duration::from_secs(60));
        changes.heard(Change::Unknown, start + Duration::from_millis(5));
        assert!(changes.stale(&claim(WebhookId::generate(), start)));
        let later = claim(WebhookId::generate(), start + Duration::from_millis(6));
        assert!(!changes.stale(&later));
    }

    #[test]
    fn changes_older_than_the_horizon_are_forgotten() {
        let start = Instant::now();
        let mut changes = Changes::new(Duration::from_secs(1));
        let a = WebhookId::generate();
        changes.heard(Change::Webhook(a), start);
        changes.heard(
            Change::Webhook(WebhookId::generate()),
            start + Duration::from_secs(2),
        );
        assert!(!changes.webhooks.contains_key(&a));
    }
}
