//! The claim round: find the organizations with work (`Look`), plan each
//! one's share of the free slots, and claim it (`Claim`), for up to
//! `CLAIM_ROUNDS` looks in a row while claims come back full. The
//! dispatcher runs the statements and reports what they found.

use std::sync::Arc;
use std::time::Instant;

use super::{Decision, Offer, Scheduler};
use crate::domain::{OrganizationId, WebhookId};

/// The most deliveries claimed in one look.
pub(super) const CLAIM_BATCH: usize = 128;
/// The most organizations served in one look.
pub(super) const ORGANIZATIONS_PER_ROUND: usize = 64;
/// Looks in a row, at most, before the dispatcher looks at its inbox again.
pub(super) const CLAIM_ROUNDS: usize = 8;

/// Look for organizations with claimable work, from after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::delivery) struct Look {
    pub after: Option<OrganizationId>,
    pub limit: usize,
}

/// Claim up to `limit` due deliveries of `organization`, skipping `skip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::delivery) struct Claim {
    pub organization: OrganizationId,
    pub limit: usize,
    pub skip: Arc<[WebhookId]>,
}

/// A round in progress.
#[derive(Debug)]
pub(super) struct Round {
    looks_left: usize,
    /// A claim came back full, or the look stopped at its limit: more may
    /// be due.
    more: bool,
    /// Organizations with work left out of this look's plan.
    unserved: bool,
    /// Endpoints skipped as saturated or booked.
    skipped: bool,
}

impl<D: Offer> Scheduler<D> {
    /// Starts a claim round (a wake-up or the poll) at `now`: the first
    /// look, or `None` when this process may take nothing now, or has no
    /// room.
    pub(in crate::delivery) fn start_round(&mut self, now: Instant) -> Option<Look> {
        if self.windows.cap() == 0 {
            // This process takes no deliveries now (see `shares`): its
            // membership wakes the claims when that changes.
            return None;
        }
        self.last_round_started = Some(now);
        self.round = Some(Round {
            looks_left: CLAIM_ROUNDS,
            more: false,
            unserved: false,
            skipped: false,
        });
        self.next_look()
    }

    fn next_look(&mut self) -> Option<Look> {
        let round = self.round.as_mut()?;
        if round.looks_left == 0 {
            return self.end_round();
        }
        round.looks_left -= 1;
        if self.regular_used >= self.limits.max_in_flight
            && self.reserve_used >= self.limits.reserve
        {
            self.backlog = true;
            return self.end_round();
        }
        Some(Look {
            after: self.cursor,
            limit: ORGANIZATIONS_PER_ROUND,
        })
    }

    fn end_round(&mut self) -> Option<Look> {
        if self.round.take().is_some() {
            self.rounds_finished += 1;
        }
        None
    }

    /// The look found `claimable` organizations (in id order), and stopped
    /// before `next` (`None`: it reached the last one). Answers the claims
    /// to make, each organization its share of the free slots; none ends
    /// the round.
    pub(in crate::delivery) fn looked(
        &mut self,
        claimable: &[OrganizationId],
        next: Option<OrganizationId>,
        now: Instant,
    ) -> Vec<Claim> {
        let max = self.limits.max_in_flight;
        let from = std::mem::replace(&mut self.cursor, next);
        // Hand-offs may have taken slots while the look ran.
        let room = max.saturating_sub(self.regular_used).min(CLAIM_BATCH);
        let reserve_room = self.limits.reserve.saturating_sub(self.reserve_used);
        // Those the look passed over have nothing pending left.
        self.tenants.not_pending(from, self.cursor, claimable);
        let plan = self.tenants.plan(claimable, room, reserve_room, max);
        if plan.is_empty() {
            // Every slot those with work may have is taken: look again as
            // soon as one frees.
            self.backlog = !claimable.is_empty();
            self.end_round();
            return Vec::new();
        }
        let skip: Arc<[WebhookId]> = self.saturated_endpoints(now).into();
        let unserved = claimable
            .iter()
            .any(|o| !plan.iter().any(|(planned, _)| planned == o));
        let more = self.cursor.is_some();
        if let Some(round) = self.round.as_mut() {
            round.unserved = unserved;
            round.skipped = !skip.is_empty();
            round.more = more;
        }
        plan.into_iter()
            .map(|(organization, limit)| Claim {
                organization,
                limit,
                skip: skip.clone(),
            })
            .collect()
    }

    /// A claim of `asked` deliveries of `organization` leased `taken` (those
    /// held back included) and returned `deliveries`: places them.
    pub(in crate::delivery) fn claimed(
        &mut self,
        organization: OrganizationId,
        asked: usize,
        taken: usize,
        deliveries: Vec<D>,
        now: Instant,
        out: &mut Vec<Decision<D>>,
    ) {
        // Those it held back count: more may be due behind them.
        let full = taken == asked;
        if let Some(round) = self.round.as_mut() {
            round.more |= full;
        }
        let mut given_back = false;
        for delivery in deliveries {
            given_back |= self.offer(delivery, now, out);
        }
        // Waiting while it has more in the store than it took.
        self.tenants.set_waiting(organization, full || given_back);
    }

    /// Every claim of the look was made: the next look, or `None` when the
    /// round is over.
    pub(in crate::delivery) fn claims_made(&mut self) -> Option<Look> {
        let round = self.round.as_ref()?;
        self.backlog = round.more || round.unserved || round.skipped;
        if !round.more {
            return self.end_round();
        }
        self.next_look()
    }

    /// A statement of the round failed: the round ends (the dispatcher
    /// backs off).
    pub(in crate::delivery) fn round_failed(&mut self) {
        self.end_round();
    }
}
