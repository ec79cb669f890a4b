//! Deletes finished deliveries older than the retention period, in small
//! batches with pauses between them, so it never holds up delivery; then
//! the events left without deliveries and the ordered sequences idle as
//! long and with nothing pending.

use crate::domain::clock;
use std::time::Duration;

use chrono::Utc;

use crate::store::Store;

const BATCH: u64 = 500;
const PAUSE: Duration = Duration::from_millis(20);

/// Runs until `shutdown` completes: every `interval`, forgets what is older
/// than `retention`.
pub async fn run(
    store: Store,
    retention: Duration,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut shutdown => return,
        }
        let cutoff = clock::before(Utc::now(), retention);
        let deliveries = purge(|| store.purge_deliveries(cutoff, BATCH)).await;
        let events = purge(|| store.purge_events(cutoff, BATCH)).await;
        let sequences = purge(|| store.purge_sequences(cutoff, BATCH)).await;
        if deliveries + events + sequences > 0 {
            tracing::info!(
                deliveries,
                events,
                sequences,
                "old delivery history deleted"
            );
        }
    }
}

/// Repeats `step` until a batch comes back short; the total deleted.
async fn purge<F, Fut>(step: F) -> u64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::store::StoreError>>,
{
    let mut total = 0;
    loop {
        match step().await {
            Ok(n) => {
                total += n;
                if n < BATCH {
                    return total;
                }
            }
            Err(err) => {
                tracing::warn!(error = ?err, "cannot delete old delivery history; next round");
                return total;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
}
