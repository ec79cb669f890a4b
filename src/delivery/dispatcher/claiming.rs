//! The claim loop's round: find the organizations with work, plan each
//! one's share of the free slots, and claim it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Inner;
use crate::domain::{DeliveryStatus, OrganizationId};
use crate::store::{AttemptRecord, Claimed};

/// The most deliveries claimed in one round.
const CLAIM_BATCH: usize = 128;
/// The most organizations served in one round.
const ORGANIZATIONS_PER_ROUND: usize = 64;
/// Rounds in a row, at most, before the loop looks at its inbox again.
const CLAIM_ROUNDS: usize = 8;

impl Inner {
    /// Claims and starts deliveries while there is room and work, each
    /// organization its share (see `scheduler`). `cursor` is where the next
    /// look for organizations with work starts, so that with more than a
    /// round's worth of them, every one comes round.
    pub(super) async fn claim_and_start(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
        inbox: &mut mpsc::UnboundedReceiver<Vec<Claimed>>,
        cursor: &mut Option<OrganizationId>,
    ) {
        let max = self.config.max_in_flight;
        if self.slots.lock().expect("lock").windows.cap() == 0 {
            // This process takes no deliveries now (see `scheduler::shares`):
            // its membership wakes the claims when that changes.
            return;
        }
        for _ in 0..CLAIM_ROUNDS {
            if self.no_room() {
                self.backlog.store(true, Ordering::Relaxed);
                return;
            }
            let look = self
                .store
                .organizations_with_pending(*cursor, ORGANIZATIONS_PER_ROUND as u64);
            let found = match self.taking_handed_while(look, inbox, tasks, records).await {
                Ok(found) => found,
                Err(err) => return self.claim_failed(err).await,
            };
            let from = std::mem::replace(cursor, found.next);
            let organizations = found.claimable;
            // Hand-offs may have taken slots while the look ran.
            let room = self.permits.available_permits().min(CLAIM_BATCH);
            let reserve_room = self.reserve.available_permits();
            let plan = {
                let mut slots = self.slots.lock().expect("lock");
                // Those the look passed over have nothing pending left.
                slots.tenants.not_pending(from, *cursor, &organizations);
                slots.tenants.plan(&organizations, room, reserve_room, max)
            };
            if plan.is_empty() {
                // Every slot those with work may have is taken: look again
                // as soon as one frees.
                self.backlog
                    .store(!organizations.is_empty(), Ordering::Relaxed);
                return;
            }
            let skip = self.saturated_endpoints();
            // Organizations left out of this round still have work.
            let unserved = organizations
                .iter()
                .any(|o| !plan.iter().any(|(planned, _)| planned == o));
            let mut more = cursor.is_some();
            for (organization, limit) in plan {
                let claim =
                    self.store
                        .claim_due(organization, limit as u64, self.config.lease, &skip);
                let claims = match self.taking_handed_while(claim, inbox, tasks, records).await {
                    Ok(claims) => claims,
                    Err(err) => return self.claim_failed(err).await,
                };
                // Counted once: the sweeper cannot cancel them again.
                self.metrics
                    .deliveries_finished(DeliveryStatus::Cancelled, claims.cancelled);
                // Those it held back count: more may be due behind them.
                let full = claims.taken == limit;
                more |= full;
                let given_back = self.start(claims.deliveries, tasks, records).await;
                // Waiting while it has more in the store than it took.
                self.slots
                    .lock()
                    .expect("lock")
                    .tenants
                    .set_waiting(organization, full || given_back);
            }
            self.backlog
                .store(more || unserved || !skip.is_empty(), Ordering::Relaxed);
            if !more {
                return;
            }
        }
    }

    fn no_room(&self) -> bool {
        self.permits.available_permits() == 0 && self.reserve.available_permits() == 0
    }

    /// Awaits `step`, one statement of a claim round, while starting what
    /// is handed off meanwhile: the statements of a round may each wait for
    /// the database (behind a burst of publishes, say), and a quiet
    /// organization's fresh delivery must not wait with them. What cannot
    /// start is given back after `step`, never during: `step` may hold
    /// SQLite's one write lock, and is not polled meanwhile.
    async fn taking_handed_while<T>(
        self: &Arc<Self>,
        step: impl Future<Output = T>,
        inbox: &mut mpsc::UnboundedReceiver<Vec<Claimed>>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) -> T {
        tokio::pin!(step);
        let mut unplaced = Vec::new();
        let done = loop {
            tokio::select! {
                biased;
                done = &mut step => break done,
                Some(handed) = inbox.recv() => {
                    unplaced.extend(self.take_handed(handed, tasks, records));
                }
            }
        };
        self.release(&unplaced).await;
        done
    }

    async fn claim_failed(&self, err: crate::store::StoreError) {
        tracing::error!(error = ?err, "cannot claim deliveries");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
