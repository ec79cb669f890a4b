//! Who gets a delivery slot next: the one place where the dispatcher's
//! decisions are made, as a pure state machine (no I/O, no clock reads: the
//! time comes in with every call). The dispatcher runs what it answers.
//!
//! Organizations share the slots fairly (`tenants`); each endpoint gets as
//! many at once as it shows it can take (`window`), up to this process's
//! part of the per-endpoint cap (`shares`), and no more a second than its
//! rate limit: kept in memory by the one process on SQLite (`rates`), in the
//! database for several on PostgreSQL (`booked`). Deliveries read before
//! their webhook was edited are not sent (`edits`); an ordered sequence has
//! one delivery in flight at a time (`slots`). The claim round is `round`;
//! what a publish batch may lease straight to the workers is the plain-data
//! quota `slots` builds (`hand_off`), which publishing reads and never calls.

mod booked;
mod decision;
mod edits;
mod rates;
mod round;
mod shares;
mod slots;
mod tenants;
mod window;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use chrono::{DateTime, Utc};

use booked::Booked;
pub use decision::Activity;
pub(super) use decision::{Decision, Limits, Offer, SlotId};
use edits::Edits;
use rates::Rates;
pub(super) use shares::Shares;
use tenants::Tenants;
pub(super) use tenants::reserve;
pub(super) use window::Signal;
use window::Windows;

use crate::domain::{OrganizationId, WebhookId};
use crate::store::Heartbeat;

/// Which kind of slot a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Regular,
    Reserve,
}

/// A slot's delivery, while the slot is not sending it.
#[derive(Debug)]
enum SlotState<D> {
    /// Sent, or about to be: the dispatcher has it.
    Sending,
    /// Waiting for its turn under its webhook's rate limit.
    Turn(D),
}

#[derive(Debug)]
struct Slot<D> {
    organization: OrganizationId,
    webhook: WebhookId,
    place: Place,
    /// The ordered sequence of the delivery it holds, if any.
    sequence: Option<(WebhookId, String)>,
    state: SlotState<D>,
}

/// Per webhook: slots running, and claimed deliveries waiting for one.
#[derive(Debug)]
struct Endpoint<D> {
    running: usize,
    waiting: VecDeque<D>,
}

impl<D> Default for Endpoint<D> {
    fn default() -> Self {
        Self {
            running: 0,
            waiting: VecDeque::new(),
        }
    }
}

/// Every slot decision of one process's workers.
#[derive(Debug)]
pub(in crate::delivery) struct Scheduler<D> {
    limits: Limits,
    slots: HashMap<SlotId, Slot<D>>,
    next_slot: u64,
    /// Regular slots taken (at most `max_in_flight`).
    regular_used: usize,
    /// Reserve slots taken (at most `limits.reserve`).
    reserve_used: usize,
    endpoints: HashMap<WebhookId, Endpoint<D>>,
    /// Deliveries in the endpoints' `waiting` queues, all together: counted,
    /// not summed, as `activity` is read after every change.
    held: usize,
    /// Per webhook: how many requests it may have in flight now, up to
    /// this process's share of the per-endpoint cap.
    windows: Windows,
    /// This process's share of the per-endpoint cap, among the processes
    /// on one PostgreSQL.
    shares: Shares,
    /// Per rate-limited webhook: its next turn (SQLite).
    rates: Rates,
    /// Rate-limited webhooks booked beyond reach (PostgreSQL).
    booked: Booked,
    /// Per organization: slots held, and whether it waits for more.
    tenants: Tenants,
    edits: Edits,
    /// Ordered sequences with a slot: at most one delivery of each is sent
    /// or waits for its turn at a time.
    sequences: HashSet<(WebhookId, String)>,
    /// Set when the last claim may have left due work behind.
    backlog: bool,
    /// Leases given back and not yet released in the store: until they
    /// are, and a claim looked after, the workers are not idle.
    returning: usize,
    /// The claim round in progress, and where the next look starts.
    round: Option<round::Round>,
    cursor: Option<OrganizationId>,
    last_round_started: Option<Instant>,
    rounds_finished: u64,
}

impl<D: Offer> Scheduler<D> {
    pub(in crate::delivery) fn new(limits: Limits, shares: Shares) -> Self {
        Self {
            windows: Windows::new(shares.share()),
            edits: Edits::new(limits.lease),
            limits,
            slots: HashMap::new(),
            next_slot: 0,
            regular_used: 0,
            reserve_used: 0,
            endpoints: HashMap::new(),
            held: 0,
            shares,
            rates: Rates::default(),
            booked: Booked::default(),
            tenants: Tenants::default(),
            sequences: HashSet::new(),
            backlog: false,
            returning: 0,
            round: None,
            cursor: None,
            last_round_started: None,
            rounds_finished: 0,
        }
    }

    /// A webhook was edited (`None`: anything may have been): deliveries
    /// read before are not sent as they are.
    pub(in crate::delivery) fn edited(&mut self, webhook: Option<WebhookId>, now: Instant) {
        self.edits.heard(webhook, now);
    }

    /// What is held now; `kept`: places kept for hand-offs on their way.
    /// Read after every change of the scheduler: counters only.
    pub(in crate::delivery) fn activity(&self, kept: usize) -> Activity {
        let in_flight = self.slots.len();
        let held = self.held;
        let returning = self.returning;
        Activity {
            in_flight,
            held,
            kept,
            returning,
            rounds_finished: self.rounds_finished,
            last_round_started: self.last_round_started,
            taking: self.windows.cap() > 0,
            idle: in_flight == 0
                && held == 0
                && kept == 0
                && returning == 0
                && self.round.is_none()
                && !self.backlog,
        }
    }

    /// What the next heartbeat says of this process (see
    /// `Shares::settled_as_of`): within its share when no endpoint has
    /// more of its requests in flight than the share allows now.
    pub(in crate::delivery) fn settled_as_of(&self) -> Option<DateTime<Utc>> {
        let share = self.windows.cap();
        let within = self.endpoints.values().all(|e| e.running <= share);
        self.shares.settled_as_of(within)
    }

    /// A heartbeat answered: takes the share it gives. Returns the share
    /// before and after; when it grew, the claims should look again.
    pub(in crate::delivery) fn heard(&mut self, beat: &Heartbeat) -> (usize, usize) {
        let before = self.windows.cap();
        let share = self.shares.heard(beat);
        self.windows.set_cap(share);
        (before, share)
    }

    /// Out of touch with the database for too long: starts nothing more.
    /// True when it was not fenced already.
    pub(in crate::delivery) fn fence(&mut self) -> bool {
        let newly = !self.shares.fenced();
        self.shares.fence();
        self.windows.set_cap(0);
        newly
    }

    /// True when `delivery` must not be sent as it is at `now`: its webhook
    /// changed since it was read, or its lease is too close to its end.
    fn expired(&self, delivery: &D, now: Instant) -> bool {
        now.saturating_duration_since(delivery.loaded_at()) + self.limits.timeout
            >= self.limits.lease
            || self.edits.stale(delivery.webhook(), delivery.loaded_at())
    }

    /// `lease` goes back to the store: a freed slot claims again.
    fn give_back(&mut self, lease: crate::store::Lease, out: &mut Vec<Decision<D>>) {
        self.backlog = true;
        self.returning += 1;
        out.push(Decision::GiveBack(lease));
    }

    /// `count` leases given back went back to the store (or could not, and
    /// wait for their lease to run out): a claim must look for them, even
    /// if a round ran meanwhile and found them still leased.
    pub(in crate::delivery) fn returned(&mut self, count: usize) {
        self.returning -= count;
        if count > 0 {
            self.backlog = true;
        }
    }
}
