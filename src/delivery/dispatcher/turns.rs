//! Waiting for a delivery's turn under its webhook's rate limit: in memory
//! on SQLite, where this is the only process; in the database on
//! PostgreSQL, where the turns are every process's (see `scheduler::booked`).
//! A webhook without a limit never waits, and on PostgreSQL never asks.

use std::time::{Duration, Instant};

use super::Inner;
use crate::delivery::scheduler;
use crate::store::Claimed;

impl Inner {
    /// Waits for the delivery's turn; false when it may not be sent now: its
    /// lease would run short first (see `expired`), or no turn comes within
    /// its reach, or none could be taken.
    pub(super) async fn wait_turn(&self, claim: &Claimed) -> bool {
        let turn = if self.store.is_sqlite() {
            let now = Instant::now();
            let turn = self.slots.lock().expect("lock").rates.turn(
                claim.webhook_id,
                claim.rate_limit_per_second,
                now,
            );
            if turn <= now {
                return true;
            }
            turn
        } else if claim.rate_limit_per_second == 0 {
            return true;
        } else {
            match self.take_shared_turn(claim).await {
                Some(turn) => turn,
                None => return false,
            }
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(turn)).await;
        !self.expired(claim)
    }

    /// Takes the delivery's turn in the database, if one comes within its
    /// reach; when it starts.
    async fn take_shared_turn(&self, claim: &Claimed) -> Option<Instant> {
        let webhook = claim.webhook_id;
        let (lease, timeout) = (self.config.lease, self.config.timeout);
        let reach = scheduler::reach(lease, timeout, claim.loaded_at.elapsed());
        let booked = self
            .slots
            .lock()
            .expect("lock")
            .booked
            .booked(webhook, Instant::now);
        if booked || reach.is_zero() {
            return None;
        }
        let step = scheduler::step(claim.rate_limit_per_second);
        let turn = match self.store.take_turn(webhook, step, reach).await {
            Ok(turn) => turn,
            Err(err) => {
                tracing::warn!(%webhook, error = ?err, "cannot take a turn under the webhook's rate limit; the delivery goes back");
                return None;
            }
        };
        let now = Instant::now();
        let fresh_reach = scheduler::reach(lease, timeout, Duration::ZERO);
        self.slots
            .lock()
            .expect("lock")
            .booked
            .heard(webhook, now, turn.next_free, fresh_reach);
        if turn.wait.is_none() {
            tracing::debug!(%webhook, next_free = ?turn.next_free, "no turn within reach; the delivery goes back");
        }
        turn.wait.map(|wait| now + wait)
    }
}
