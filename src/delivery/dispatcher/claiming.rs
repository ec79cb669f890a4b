//! The claim round's statements: the scheduler says where to look and
//! what to claim (see `scheduler::round`); this runs the statements and
//! reports what they found.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::super::Handed;
use super::Inner;
use crate::domain::{DeliveryStatus, OrganizationId};
use crate::store::AttemptRecord;

impl Inner {
    /// Claims and starts deliveries while there is room and work, each
    /// organization its share, as the scheduler plans the round.
    pub(super) async fn claim_and_start(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
        inbox: &mut mpsc::UnboundedReceiver<Handed>,
    ) {
        let mut next = self.scheduler().start_round(Instant::now());
        while let Some(look) = next {
            let found = self
                .store
                .organizations_with_pending(look.after, look.limit as u64);
            let found = match self.taking_handed_while(found, inbox, tasks, records).await {
                Ok(found) => found,
                Err(err) => return self.claim_failed(err).await,
            };
            let claims = self
                .scheduler()
                .looked(&found.claimable, found.next, Instant::now());
            if claims.is_empty() {
                return;
            }
            for claim in claims {
                let statement = self.store.claim_due(
                    claim.organization,
                    claim.limit as u64,
                    self.config.lease,
                    &claim.skip,
                );
                let claims = match self
                    .taking_handed_while(statement, inbox, tasks, records)
                    .await
                {
                    Ok(claims) => claims,
                    Err(err) => return self.claim_failed(err).await,
                };
                // Counted once: the sweeper cannot cancel them again.
                self.metrics
                    .deliveries_finished(DeliveryStatus::Cancelled, claims.cancelled);
                self.start(claim.organization, claim.limit, claims, tasks, records)
                    .await;
            }
            next = self.scheduler().claims_made();
        }
    }

    /// Places what a claim took, and gives back what has no place.
    async fn start(
        self: &Arc<Self>,
        organization: OrganizationId,
        asked: usize,
        claims: crate::store::Claims,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) {
        let mut decisions = Vec::new();
        self.scheduler().claimed(
            organization,
            asked,
            claims.taken,
            claims.deliveries,
            Instant::now(),
            &mut decisions,
        );
        let given_back = self.run_new_slots(decisions, tasks, records);
        self.release(&given_back).await;
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
        inbox: &mut mpsc::UnboundedReceiver<Handed>,
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
        self.scheduler().round_failed();
        tracing::error!(error = ?err, "cannot claim deliveries");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
