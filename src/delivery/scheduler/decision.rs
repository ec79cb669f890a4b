//! What the scheduler reads of a delivery, and what it answers: the
//! decisions the dispatcher runs (it does the I/O, the scheduler decides).

use std::time::{Duration, Instant};

use crate::domain::{OrganizationId, WebhookId};
use crate::store::{Claimed, Lease};

/// What the scheduler reads of a delivery (`store::Claimed` in production,
/// a few bytes in the tests).
pub(in crate::delivery) trait Offer {
    fn organization(&self) -> OrganizationId;
    fn webhook(&self) -> WebhookId;
    /// `Some` for a delivery of an ordered sequence: its webhook and key.
    fn sequence(&self) -> Option<(WebhookId, &str)>;
    fn lease(&self) -> Lease;
    /// When its webhook's settings were read.
    fn loaded_at(&self) -> Instant;
    /// At most this many deliveries a second to its webhook; 0: no limit.
    fn rate_limit(&self) -> u32;
}

impl Offer for Claimed {
    fn organization(&self) -> OrganizationId {
        self.organization_id
    }

    fn webhook(&self) -> WebhookId {
        self.webhook_id
    }

    fn sequence(&self) -> Option<(WebhookId, &str)> {
        self.ordering_key
            .as_deref()
            .map(|key| (self.webhook_id, key))
    }

    fn lease(&self) -> Lease {
        self.lease
    }

    fn loaded_at(&self) -> Instant {
        self.loaded_at
    }

    fn rate_limit(&self) -> u32 {
        self.rate_limit_per_second
    }
}

/// One delivery slot: a chain of attempts to one webhook, one at a time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(in crate::delivery) struct SlotId(pub(super) u64);

/// What the dispatcher is to do.
#[derive(Debug)]
pub(in crate::delivery) enum Decision<D> {
    /// Attempt `delivery` now on `slot` (a new slot, or one going on), then
    /// report `attempted`.
    Send { slot: SlotId, delivery: D },
    /// `slot` waits for its webhook's turn (SQLite): report `turn_came` at
    /// `until`. The scheduler keeps the delivery meanwhile.
    Hold { slot: SlotId, until: Instant },
    /// Ask the database for a turn of `webhook` for `slot` within `reach`
    /// (PostgreSQL), then report `turn_taken`.
    TakeTurn {
        slot: SlotId,
        webhook: WebhookId,
        step: Duration,
        reach: Duration,
    },
    /// Give this lease back to the store, and wake the claims.
    GiveBack(Lease),
    /// A slot freed while the last claim may have left work: wake the claims.
    Look,
}

impl<D> Decision<D> {
    /// The slot this decision keeps going, if any.
    pub(in crate::delivery) fn slot(&self) -> Option<SlotId> {
        match self {
            Self::Send { slot, .. } | Self::Hold { slot, .. } | Self::TakeTurn { slot, .. } => {
                Some(*slot)
            }
            Self::GiveBack(_) | Self::Look => None,
        }
    }
}

/// The fixed limits the scheduler decides within.
#[derive(Debug, Clone)]
pub(in crate::delivery) struct Limits {
    /// Regular slots, all endpoints together.
    pub max_in_flight: usize,
    /// Extra slots for organizations that hold none (`tenants::reserve`).
    pub reserve: usize,
    /// How long a claimed delivery is ours.
    pub lease: Duration,
    /// The longest an attempt takes.
    pub timeout: Duration,
    /// Where rate-limit turns are kept: in memory (SQLite, one process) or
    /// in the database (PostgreSQL, every process's).
    pub turns_in_database: bool,
}

/// What the workers of one process hold now, published to the tests (and
/// anyone watching) after every change: they wait on it instead of sleeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Slots taken: attempts in flight or about to be, and slots waiting
    /// for a rate-limit turn.
    pub in_flight: usize,
    /// Leased deliveries held in memory without a slot.
    pub held: usize,
    /// Places kept for deliveries handed off at publishing and not yet
    /// taken in.
    pub kept: usize,
    /// Leases given back and not yet released in the store.
    pub returning: usize,
    /// Claim rounds finished since start.
    pub rounds_finished: u64,
    /// When the latest claim round started (it may still be running).
    pub last_round_started: Option<Instant>,
    /// This process may take deliveries now: false while its share of the
    /// per-endpoint cap is nothing (another process on the database holds
    /// all of it), when it starts no claim round.
    pub taking: bool,
    /// Nothing in flight, held, kept or on its way back to the store, no
    /// claim round running and no backlog left by the last one.
    pub idle: bool,
}
