//! The store-wide backlog gauges, read again every few seconds by a task of
//! their own: one cheap statement (see [`Store::backlog`]), however often
//! Prometheus scrapes, and the same figures from every process.

use std::future::Future;
use std::time::Duration;

use super::Metrics;
use crate::store::Store;

/// Reads the backlog into `metrics` now and every `every`
/// (WEBHOOK_METRICS_BACKLOG_REFRESH) until `shutdown` completes. A failed
/// reading keeps the last figures and is logged.
pub async fn refresh_backlog(
    store: Store,
    metrics: Metrics,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = &mut shutdown => return,
        }
        match store.backlog().await {
            Ok(backlog) => {
                let age = backlog
                    .oldest_due
                    .and_then(|due| (backlog.at - due).to_std().ok())
                    .unwrap_or_default();
                metrics.set_backlog(backlog.due, age);
            }
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read the delivery backlog for the metrics")
            }
        }
    }
}
