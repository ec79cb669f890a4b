//! Writes attempt results in batches, and wakes the claim loop when each
//! retry comes due.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use super::Wakeup;
use crate::store::{AttemptRecord, Next, Store};

/// The most attempts recorded in one transaction.
const RECORD_BATCH: usize = 512;

/// Records attempts in batches. A failed write is retried, never dropped:
/// if it never succeeds, the leases run out and the deliveries are sent again.
pub(super) async fn write_records(
    store: Store,
    mut written: mpsc::UnboundedReceiver<AttemptRecord>,
    wakeup: Wakeup,
) {
    while let Some(first) = written.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match written.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let mut pause = Duration::from_millis(100);
        while let Err(err) = store.record_attempts(&batch).await {
            tracing::error!(error = ?err, attempts = batch.len(), "cannot record attempts; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        // Wake the claim loop when each retry comes due, not at the next poll.
        for record in &batch {
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
