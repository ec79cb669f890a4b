//! The claim loop's round: find the organizations with work, plan each
//! one's share of the free slots, and claim it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Inner;
use crate::domain::OrganizationId;
use crate::store::AttemptRecord;

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
        cursor: &mut Option<OrganizationId>,
    ) {
        let max = self.config.max_in_flight;
        for _ in 0..CLAIM_ROUNDS {
            let room = self.permits.available_permits().min(CLAIM_BATCH);
            let reserve_room = self.reserve.available_permits();
            if room == 0 && reserve_room == 0 {
                self.backlog.store(true, Ordering::Relaxed);
                return;
            }
            let organizations = match self
                .store
                .organizations_with_pending(*cursor, ORGANIZATIONS_PER_ROUND as u64)
                .await
            {
                Ok(found) => found,
                Err(err) => return self.claim_failed(err).await,
            };
            *cursor = (organizations.len() == ORGANIZATIONS_PER_ROUND)
                .then(|| organizations.last().copied())
                .flatten();
            let plan = {
                let slots = self.slots.lock().expect("lock");
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
                let claimed = match self
                    .store
                    .claim_due(organization, limit as u64, self.config.lease, &skip)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(err) => return self.claim_failed(err).await,
                };
                let full = claimed.len() == limit;
                more |= full;
                let given_back = self.start(claimed, tasks, records).await;
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

    async fn claim_failed(&self, err: crate::store::StoreError) {
        tracing::error!(error = ?err, "cannot claim deliveries");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
