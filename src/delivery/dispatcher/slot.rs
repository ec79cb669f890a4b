//! One delivery slot's task: runs what the scheduler decides for it (send,
//! wait for a rate-limit turn, take one from the database), reports each
//! result back, and ends when the scheduler frees the slot.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::Inner;
use crate::delivery::attempt::attempt;
use crate::delivery::scheduler::{Decision, SlotId};
use crate::store::{AttemptRecord, Claimed};

impl Inner {
    /// Runs `step`, the first decision of a new slot, and the ones after.
    pub(super) async fn run_slot(
        self: Arc<Self>,
        step: Decision<Claimed>,
        records: mpsc::Sender<AttemptRecord>,
    ) {
        let mut step = step;
        loop {
            let mut decisions = Vec::new();
            let slot = match step {
                Decision::Send { slot, delivery } => {
                    let signal = attempt(
                        &self.client,
                        &self.config,
                        &self.metrics,
                        delivery,
                        &records,
                    )
                    .await;
                    self.scheduler()
                        .attempted(slot, signal, Instant::now(), &mut decisions);
                    slot
                }
                Decision::Hold { slot, until } => {
                    tokio::time::sleep_until(until.into()).await;
                    self.scheduler()
                        .turn_came(slot, Instant::now(), &mut decisions);
                    slot
                }
                Decision::TakeTurn {
                    slot,
                    webhook,
                    step,
                    reach,
                } => {
                    let turn = match self.store.take_turn(webhook, step, reach).await {
                        Ok(turn) => {
                            if turn.wait.is_none() {
                                tracing::debug!(%webhook, next_free = ?turn.next_free, "no turn within reach; the delivery goes back");
                            }
                            Some(turn)
                        }
                        Err(err) => {
                            tracing::warn!(%webhook, error = ?err, "cannot take a turn under the webhook's rate limit; the delivery goes back");
                            None
                        }
                    };
                    self.scheduler()
                        .turn_taken(slot, turn, Instant::now(), &mut decisions);
                    slot
                }
                Decision::GiveBack(_) | Decision::Look => return,
            };
            match self.go_on(slot, decisions).await {
                Some(next) => step = next,
                None => return,
            }
        }
    }

    /// Gives back what `decisions` give back, wakes the claims when asked,
    /// and answers the next step of `slot`, if it goes on.
    async fn go_on(
        &self,
        slot: SlotId,
        decisions: Vec<Decision<Claimed>>,
    ) -> Option<Decision<Claimed>> {
        let mut next = None;
        let mut given_back = Vec::new();
        let mut look = false;
        for decision in decisions {
            match decision {
                Decision::GiveBack(lease) => given_back.push(lease),
                Decision::Look => look = true,
                step => {
                    // The scheduler answers a slot's events for that slot only.
                    debug_assert_eq!(step.slot(), Some(slot));
                    next = Some(step);
                }
            }
        }
        self.release(&given_back).await;
        if look {
            self.wakeup.wake();
        }
        next
    }
}
