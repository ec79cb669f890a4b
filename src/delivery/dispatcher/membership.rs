//! This process's place among those delivering from one PostgreSQL: a
//! heartbeat, and the share of the per-endpoint cap that each beat gives it
//! (decided by the scheduler's `Shares`).

use std::sync::Arc;
use std::time::Instant;

use super::Inner;
use crate::store::Heartbeat;

/// A process silent for this many heartbeat intervals is counted out.
const LIVES: u32 = 5;
/// Silent for this many, a process starts nothing more: well before the
/// others may count it out, since its requests in flight still run.
const FENCE_AFTER: u32 = 3;

impl Inner {
    /// Beats every heartbeat interval until `stop` completes, taking the
    /// share each beat gives; then leaves, so that the others take up its
    /// share at once. Only on PostgreSQL.
    pub(super) async fn keep_membership(self: Arc<Self>, stop: impl Future<Output = ()>) {
        let every = self.config.heartbeat_interval;
        let (ttl, lapse) = (every * LIVES, every);
        tokio::pin!(stop);
        // The share is none until a beat gets through, fenced or not.
        let mut fence_at = Instant::now() + every * FENCE_AFTER;
        loop {
            let sent = Instant::now();
            if sent >= fence_at {
                self.fence();
            }
            let settled = self.scheduler().settled_as_of();
            // A beat that took longer than an interval may have committed
            // after the others counted this process out: not trusted.
            let beat = tokio::time::timeout(
                every,
                self.store.heartbeat(self.process, ttl, lapse, settled),
            );
            let mut next = sent + every;
            tokio::select! {
                answered = beat => match answered {
                    Ok(Ok(beat)) => {
                        fence_at = sent + every * FENCE_AFTER;
                        self.take_share(&beat);
                        if beat.joined {
                            // Beat again at once: the row just committed is
                            // visible to whoever reads from now on.
                            next = Instant::now();
                        }
                    }
                    Ok(Err(err)) => tracing::warn!(error = ?err, "heartbeat failed"),
                    Err(_) => tracing::warn!(
                        "heartbeat took longer than WEBHOOK_HEARTBEAT_INTERVAL; not counted"
                    ),
                },
                () = &mut stop => break,
            }
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = &mut stop => break,
            }
        }
        match tokio::time::timeout(every, self.store.leave(self.process)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = ?err, "cannot leave; the others count this process out when its heartbeat runs out")
            }
            Err(_) => tracing::warn!(
                "leaving took too long; the others count this process out when its heartbeat runs out"
            ),
        }
    }

    /// Takes the share `beat` gives, and wakes the claims when it grew.
    fn take_share(&self, beat: &Heartbeat) {
        let (before, share) = self.scheduler().heard(beat);
        if share != before {
            tracing::info!(
                share,
                processes = beat.members.len(),
                "requests in flight to one endpoint this process may have"
            );
        }
        if share > before {
            self.wakeup.wake();
        }
    }

    /// Out of touch with the database for too long: starts nothing more.
    fn fence(&self) {
        if self.scheduler().fence() {
            tracing::warn!(
                "no heartbeat got through for {FENCE_AFTER} intervals: starting no deliveries until one does"
            );
        }
    }
}
