//! Writes attempt results in batches, and wakes the claim loop when each
//! retry comes due. One record that cannot be written never holds up the
//! others: a batch that fails for a reason other than the database being
//! away is split until the culprit is alone, the rest is written, and the
//! culprit is written without its outside texts, or dropped and counted.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use super::Wakeup;
use crate::domain::DeliveryStatus;
use crate::metrics::Metrics;
use crate::store::{AttemptRecord, HandOff, Next, Recorded, Store, StoreError};

/// The most attempts recorded in one transaction.
const RECORD_BATCH: usize = 512;
/// Results waiting to be written; past this, attempt tasks wait (and hold
/// their slots), so a stalled database stops new attempts instead of
/// filling memory.
pub(super) const RECORD_QUEUE: usize = 4 * RECORD_BATCH;

/// Where records are written: the store, or a test double in unit tests.
pub(super) trait Sink {
    async fn write(&self, batch: &[AttemptRecord]) -> Result<Recorded, StoreError>;
}

/// The store, disabling webhooks whose deliveries all failed for
/// `disable_after`, and leasing the next of each ordered sequence that
/// ended to these workers when they have room for it (`wakeup`).
pub(super) struct Records {
    pub store: Store,
    pub disable_after: Duration,
    pub wakeup: Wakeup,
}

impl Sink for Records {
    async fn write(&self, batch: &[AttemptRecord]) -> Result<Recorded, StoreError> {
        // Only a batch that ends a delivery of an ordered sequence promotes
        // one: the others do not look at the scheduler.
        let ends_a_sequence =
            |r: &AttemptRecord| r.ordering_key.is_some() && !matches!(r.next, Next::RetryAt(_));
        let mut hand_off = if batch.iter().any(ends_a_sequence) {
            let mut organizations: Vec<_> = batch
                .iter()
                .filter(|r| ends_a_sequence(r))
                .map(|r| r.organization_id)
                .collect();
            organizations.sort_unstable();
            organizations.dedup();
            self.wakeup.hand_off_quota(&organizations)
        } else {
            HandOff::none()
        };
        let recorded = self
            .store
            .record_attempts(batch, self.disable_after, &mut hand_off)
            .await?;
        self.wakeup.left_waiting(hand_off.waiting());
        Ok(recorded)
    }
}

/// Records attempts in batches until every sender is gone, and counts in
/// `metrics` the deliveries that finished, the events that recording
/// published, and the records it had to drop.
pub(super) async fn write_records(
    sink: impl Sink,
    mut written: mpsc::Receiver<AttemptRecord>,
    wakeup: Wakeup,
    metrics: Metrics,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while written.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let (stored, recorded) = write_all(&sink, std::mem::take(&mut batch), &metrics).await;
        let finished = recorded.finished;
        metrics.deliveries_finished(DeliveryStatus::Succeeded, finished.succeeded);
        metrics.deliveries_finished(DeliveryStatus::Failed, finished.failed);
        metrics.deliveries_finished(DeliveryStatus::Cancelled, finished.cancelled);
        for published in &recorded.published {
            metrics.event_published(&published.event_type);
        }
        announce(&wakeup, recorded);
        // Wake the claim loop when each retry comes due, not at the next poll.
        for record in &stored {
            if let Next::RetryAt(at) = record.next {
                let wait = (at - Utc::now()).to_std().unwrap_or_default();
                let wakeup = wakeup.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    wakeup.wake();
                });
            }
        }
    }
}

/// Tells the workers what recording did: deliveries they hold for a
/// disabled webhook must not be sent, and `webhook.disabled` events wait.
fn announce(wakeup: &Wakeup, recorded: Recorded) {
    for webhook in recorded.disabled {
        tracing::warn!(webhook_id = %webhook, "webhook disabled: its deliveries failed for too long");
        wakeup.webhook_changed(webhook);
    }
    let handed = recorded.handed.len() as u64;
    if handed > 0 {
        wakeup.hand_off(recorded.handed);
    }
    if recorded.promoted > handed {
        // The other new heads of their sequences are due now: claim them
        // at once, not at the next poll.
        wakeup.wake();
    }
    if !recorded.published.is_empty() {
        // Their deliveries were left in the store (no hand-off while
        // recording): claim them at once.
        wakeup.wake();
    }
}

/// Writes `batch`, waiting out database outages; returns what was stored
/// and what that did to webhooks.
async fn write_all(
    sink: &impl Sink,
    batch: Vec<AttemptRecord>,
    metrics: &Metrics,
) -> (Vec<AttemptRecord>, Recorded) {
    let mut stored = Vec::with_capacity(batch.len());
    let mut recorded = Recorded::default();
    let mut parts = vec![batch];
    let mut pause = Duration::from_millis(100);
    while let Some(part) = parts.pop() {
        match sink.write(&part).await {
            Ok(done) => {
                recorded.absorb(done);
                stored.extend(part);
                pause = Duration::from_millis(100);
            }
            // Not this batch's fault: the same write will work later.
            Err(StoreError::Unavailable(err) | StoreError::Conflict(err)) => {
                tracing::error!(error = ?err, attempts = part.len(), "cannot record attempts, the database is unavailable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                parts.push(part);
            }
            Err(err) if part.len() > 1 => {
                tracing::warn!(error = ?err, attempts = part.len(), "cannot record a batch of attempts; splitting it");
                let mut first = part;
                let second = first.split_off(first.len() / 2);
                parts.push(second);
                parts.push(first);
            }
            Err(err) => {
                let record = &part[0];
                let bare = record.without_texts();
                match sink.write(std::slice::from_ref(&bare)).await {
                    Ok(done) => {
                        recorded.absorb(done);
                        tracing::warn!(error = ?err, delivery_id = %record.delivery_id, "attempt recorded without its response excerpt and error message, which could not be stored");
                        stored.push(bare);
                    }
                    Err(again) => {
                        metrics.result_dropped();
                        tracing::error!(error = ?err, then = ?again, delivery_id = %record.delivery_id, attempt = record.attempt, "cannot record an attempt; dropped, the delivery is sent again when its lease runs out");
                    }
                }
            }
        }
    }
    (stored, recorded)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::domain::{DeliveryId, WebhookId};
    use crate::metrics::Format;

    /// How many results `metrics` counts as dropped.
    fn dropped(metrics: &Metrics) -> f64 {
        metrics
            .encode(Format::Prometheus)
            .lines()
            .find_map(|l| l.strip_prefix("webhook_delivery_results_dropped_total "))
            .expect("the dropped counter is exposed")
            .parse()
            .unwrap()
    }

    /// Refuses every batch holding a record whose excerpt says `poison`, or
    /// one of the `refused` deliveries in any form.
    #[derive(Default)]
    struct Picky {
        refused: Vec<DeliveryId>,
        written: Mutex<Vec<AttemptRecord>>,
        calls: AtomicU64,
    }

    impl Sink for Picky {
        async fn write(&self, batch: &[AttemptRecord]) -> Result<Recorded, StoreError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let poisoned = batch.iter().any(|r| {
                r.response_excerpt.as_deref() == Some("poison")
                    || self.refused.contains(&r.delivery_id)
            });
            if poisoned {
                return Err(StoreError::Other(anyhow::anyhow!("cannot store that")));
            }
            self.written.lock().unwrap().extend_from_slice(batch);
            Ok(Recorded::default())
        }
    }

    fn record(excerpt: &str) -> AttemptRecord {
        AttemptRecord {
            delivery_id: DeliveryId::generate(),
            organization_id: crate::domain::OrganizationId::from_uuid(uuid::Uuid::new_v4()),
            webhook_id: WebhookId::generate(),
            attempt: 1,
            started_at: Utc::now(),
            duration: Duration::from_millis(3),
            status_code: Some(200),
            error_kind: None,
            error_message: None,
            response_excerpt: Some(excerpt.to_owned()),
            next: Next::Succeeded,
            ordering_key: None,
        }
    }

    #[tokio::test]
    async fn one_unstorable_record_does_not_hold_back_the_rest_of_its_batch() {
        let sink = Picky::default();
        let metrics = Metrics::new();
        let mut batch: Vec<_> = (0..100).map(|i| record(&format!("ok {i}"))).collect();
        batch[37] = record("poison");
        let poisoned = batch[37].delivery_id;

        let (stored, _) = write_all(&sink, batch, &metrics).await;

        assert_eq!(stored.len(), 100);
        let written = sink.written.lock().unwrap();
        assert_eq!(written.len(), 100, "every record is written");
        let bare = written.iter().find(|r| r.delivery_id == poisoned).unwrap();
        assert_eq!(
            bare.response_excerpt.as_deref(),
            Some("(the response excerpt could not be stored)")
        );
        assert_eq!(dropped(&metrics), 0.0);
        // Bisection, not one write per record.
        assert!(sink.calls.load(Ordering::Relaxed) < 30);
    }

    #[tokio::test]
    async fn a_record_unstorable_even_without_its_texts_is_dropped_and_counted() {
        let hopeless = record("fine");
        let sink = Picky {
            refused: vec![hopeless.delivery_id],
            ..Picky::default()
        };
        let metrics = Metrics::new();
        let batch = vec![record("a"), hopeless, record("b")];

        let (stored, _) = write_all(&sink, batch, &metrics).await;

        assert_eq!(stored.len(), 2);
        assert_eq!(sink.written.lock().unwrap().len(), 2);
        assert_eq!(dropped(&metrics), 1.0);
    }
}
