//! Finishes what a pause, a resume, a delete or a disable left: a webhook's
//! deliveries beyond the batch its own transaction marked, unmarked or
//! cancelled (see `store::sweeps`), a batch per short transaction, with
//! room for other writers between them.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::domain::DeliveryStatus;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, Sweep};

/// How often to look for sweeps no wake-up announced: other processes'
/// (on PostgreSQL) and those a stopped run left.
const POLL: Duration = Duration::from_secs(5);
/// The least time between two batches. Between them the sweeper waits at
/// least as long as the last one took, so it holds the database (SQLite's
/// one writer) at most half of the time while it works.
const MIN_GAP: Duration = Duration::from_millis(50);

/// Runs until `shutdown` completes; counts in `metrics` the deliveries it
/// cancels (the change's own transaction counted its batch).
pub async fn run(store: Store, metrics: Metrics, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut last = None;
    loop {
        tokio::select! {
            () = store.sweep_wanted() => {}
            () = tokio::time::sleep(POLL) => {}
            () = &mut shutdown => return,
        }
        // Woken by a change whose transaction held the database for a
        // batch just now.
        let mut gap = MIN_GAP;
        loop {
            tokio::select! {
                () = tokio::time::sleep(gap) => {}
                () = &mut shutdown => return,
            }
            let started = Instant::now();
            match store.sweep(last).await {
                Ok(Sweep::Idle) => break,
                Ok(Sweep::Swept(webhook) | Sweep::Busy(webhook)) => last = Some(webhook),
                Ok(Sweep::Cancelled(webhook, cancelled)) => {
                    metrics.deliveries_finished(DeliveryStatus::Cancelled, cancelled);
                    last = Some(webhook);
                }
                Err(StoreError::Conflict(err)) => {
                    tracing::debug!(error = %err, "a sweep of a webhook's deliveries collided; again");
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "cannot bring a webhook's deliveries in line; next round");
                    break;
                }
            }
            gap = started.elapsed().max(MIN_GAP);
        }
    }
}
