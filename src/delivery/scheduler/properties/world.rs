//! The property test's world: a store of deliveries (organizations, their
//! webhooks, some rate-limited on in-memory turns, some ordered with a few
//! keys), the dispatcher's part (claim rounds, hand-offs at publishing,
//! attempts recorded then reported), and the checks run after every step.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::super::{Decision, Limits, Place, Scheduler, Shares, Signal, SlotId, SlotState};
use crate::domain::{DeliveryId, OrganizationId, WebhookId};
use crate::store::Lease;

mod checks;
mod decisions;

/// A leased delivery as the scheduler sees it.
pub(super) use super::super::tests::Fake as Leased;

#[derive(Debug, Clone)]
pub(super) struct Config {
    pub max_in_flight: usize,
    pub per_endpoint: usize,
    pub organizations: usize,
    /// Per webhook: its organization (modulo), rate limit, ordering keys
    /// (0: unordered).
    pub hooks: Vec<(usize, u32, usize)>,
}

/// How a recorded attempt leaves its delivery in the store.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    /// Delivered: gone, its sequence moves on.
    Done,
    /// To be retried: it stays due, at the head of its sequence.
    Retry,
    /// Failed for good: gone, its sequence moves on.
    Failed,
}

/// What the test does next (indices are taken modulo what exists).
#[derive(Debug, Clone)]
pub(super) enum Op {
    Publish {
        hook: usize,
        count: usize,
        key: usize,
    },
    /// A whole claim round, as the dispatcher runs it.
    Round,
    /// A published delivery handed off at once when the publish's quota
    /// takes it.
    HandOff {
        pick: usize,
    },
    /// An attempt ends: recorded in the store, then reported.
    Finish {
        pick: usize,
        outcome: Outcome,
        signal: Signal,
    },
    /// An attempt recorded in the store but not reported yet (its
    /// sequence's next delivery is due meanwhile).
    Record {
        pick: usize,
        outcome: Outcome,
    },
    Report {
        pick: usize,
        signal: Signal,
    },
    /// The earliest-but-`pick` held turn comes (time moves to it).
    TurnCame {
        pick: usize,
    },
    Tick {
        millis: u64,
    },
    Edit {
        hook: Option<usize>,
    },
}

#[derive(Debug)]
struct Stored {
    id: DeliveryId,
    hook: usize,
    key: Option<usize>,
    seq: u64,
    leased: bool,
}

#[derive(Debug)]
struct InFlight {
    id: DeliveryId,
    sequence: Option<(usize, usize)>,
    recorded: bool,
}

pub(super) struct World {
    config: Config,
    organizations: Vec<OrganizationId>,
    hooks: Vec<WebhookId>,
    scheduler: Scheduler<Leased>,
    now: Instant,
    store: Vec<Stored>,
    next_seq: u64,
    /// Offered to the scheduler, and neither sent nor given back yet.
    outstanding: HashSet<DeliveryId>,
    in_flight: HashMap<SlotId, InFlight>,
    holds: Vec<(SlotId, Instant)>,
    /// The held turn that came last: its slot and instant.
    came: Option<(SlotId, Instant)>,
    /// Per rate-limited webhook: the turns it started on.
    turns: HashMap<usize, BTreeSet<Instant>>,
    /// Per sequence: the last sequence number sent.
    last_sent: HashMap<(usize, usize), u64>,
}

fn id(n: usize) -> Uuid {
    Uuid::from_u128(n as u128 + 1)
}

impl World {
    pub(super) fn new(config: Config) -> Self {
        let limits = Limits {
            max_in_flight: config.max_in_flight,
            reserve: super::super::reserve(config.max_in_flight),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            turns_in_database: false,
        };
        Self {
            organizations: (0..config.organizations)
                .map(|n| OrganizationId::from_uuid(id(n)))
                .collect(),
            hooks: (0..config.hooks.len())
                .map(|n| WebhookId::from_uuid(id(100 + n)))
                .collect(),
            scheduler: Scheduler::new(limits, Shares::alone(config.per_endpoint)),
            config,
            now: Instant::now(),
            store: Vec::new(),
            next_seq: 0,
            outstanding: HashSet::new(),
            in_flight: HashMap::new(),
            holds: Vec::new(),
            came: None,
            turns: HashMap::new(),
            last_sent: HashMap::new(),
        }
    }

    fn organization_of(&self, hook: usize) -> usize {
        self.config.hooks[hook].0 % self.config.organizations
    }

    /// Due and unleased, and the head of its sequence if it has one.
    fn claimable(&self, stored: &Stored) -> bool {
        !stored.leased
            && stored.key.is_none_or(|key| {
                !self
                    .store
                    .iter()
                    .any(|s| s.hook == stored.hook && s.key == Some(key) && s.seq < stored.seq)
            })
    }

    fn lease(&mut self, index: usize) -> Leased {
        let stored = &mut self.store[index];
        stored.leased = true;
        let (hook, id, key) = (stored.hook, stored.id, stored.key);
        self.outstanding.insert(id);
        Leased {
            organization: self.organizations[self.organization_of(hook)],
            webhook: self.hooks[hook],
            key: key.map(|k| format!("k{k}")),
            rate: self.config.hooks[hook].1,
            lease: Lease {
                delivery: id,
                until: chrono::Utc::now(),
            },
            loaded_at: self.now,
        }
    }

    pub(super) fn step(&mut self, op: Op) {
        let mut out = Vec::new();
        self.came = None;
        match op {
            Op::Publish { hook, count, key } => {
                let hook = hook % self.hooks.len();
                let keys = self.config.hooks[hook].2;
                for _ in 0..count {
                    self.next_seq += 1;
                    self.store.push(Stored {
                        id: DeliveryId::generate(),
                        hook,
                        key: (keys > 0).then_some(key % keys.max(1)),
                        seq: self.next_seq,
                        leased: false,
                    });
                }
            }
            Op::Round => self.round(),
            Op::HandOff { pick } => {
                let due: Vec<usize> = (0..self.store.len())
                    .filter(|i| self.claimable(&self.store[*i]))
                    .collect();
                let Some(&index) = due.get(pick % due.len().max(1)) else {
                    return;
                };
                let hook = self.store[index].hook;
                let organization = self.organizations[self.organization_of(hook)];
                let before = self.fair_share_view(organization);
                let mut quota = self.scheduler.hand_off(&[organization], 0, self.now);
                let taken = quota.take(organization, self.hooks[hook]);
                self.scheduler.left_waiting(quota.waiting());
                if taken {
                    let delivery = self.lease(index);
                    self.scheduler.offer(delivery, self.now, &mut out);
                    self.check_fair_start(organization, before, &out);
                }
            }
            Op::Finish {
                pick,
                outcome,
                signal,
            } => {
                if let Some(slot) = self.pick_in_flight(pick, false) {
                    self.record(slot, outcome);
                    self.report(slot, signal, &mut out);
                }
            }
            Op::Record { pick, outcome } => {
                if let Some(slot) = self.pick_in_flight(pick, false) {
                    self.record(slot, outcome);
                }
            }
            Op::Report { pick, signal } => {
                if let Some(slot) = self.pick_in_flight(pick, true) {
                    self.report(slot, signal, &mut out);
                }
            }
            Op::TurnCame { pick } => {
                if self.holds.is_empty() {
                    return;
                }
                self.holds.sort_by_key(|(_, until)| *until);
                let (slot, until) = self.holds.remove(pick % self.holds.len());
                self.now = self.now.max(until);
                self.came = Some((slot, until));
                self.scheduler.turn_came(slot, self.now, &mut out);
            }
            Op::Tick { millis } => self.now += Duration::from_millis(millis),
            Op::Edit { hook } => {
                let hook = hook.map(|h| self.hooks[h % self.hooks.len()]);
                self.scheduler.edited(hook, self.now);
            }
        }
        self.run(out);
        self.check();
    }

    fn pick_in_flight(&self, pick: usize, recorded: bool) -> Option<SlotId> {
        let mut slots: Vec<SlotId> = self
            .in_flight
            .iter()
            .filter(|(_, f)| !recorded || f.recorded)
            .filter(|(_, f)| recorded || !f.recorded)
            .map(|(slot, _)| *slot)
            .collect();
        slots.sort();
        slots.get(pick % slots.len().max(1)).copied()
    }

    /// The store learns how the attempt on `slot` ended.
    fn record(&mut self, slot: SlotId, outcome: Outcome) {
        let flight = self.in_flight.get_mut(&slot).expect("in flight");
        flight.recorded = true;
        let index = self.store.iter().position(|s| s.id == flight.id);
        let index = index.expect("an attempt in flight is in the store");
        match outcome {
            Outcome::Retry => self.store[index].leased = false,
            Outcome::Done | Outcome::Failed => {
                self.store.remove(index);
            }
        }
    }

    /// The dispatcher reports the attempt on `slot`: only now may its
    /// sequence have another delivery sent.
    fn report(&mut self, slot: SlotId, signal: Signal, out: &mut Vec<Decision<Leased>>) {
        let flight = self.in_flight.remove(&slot).expect("in flight");
        assert!(flight.recorded, "reported before it was recorded");
        let organization = self.scheduler.slots[&slot].organization;
        let over = self.fair_share_view(organization);
        self.scheduler.attempted(slot, signal, self.now, out);
        // An organization over its share while others wait starts nothing
        // more from its queue on the slot it frees.
        if over.others_waiting && over.running > over.share {
            assert!(
                !out.iter().any(|d| d.slot() == Some(slot)),
                "an organization over its share ({} > {}) went on while others wait: {out:?}",
                over.running,
                over.share
            );
        }
    }

    /// A claim round, with the store answering the looks and claims.
    fn round(&mut self) {
        let Some(mut look) = self.scheduler.start_round(self.now) else {
            return;
        };
        for _ in 0..=super::super::round::CLAIM_ROUNDS {
            let mut claimable: Vec<OrganizationId> = (0..self.store.len())
                .filter(|i| self.claimable(&self.store[*i]))
                .map(|i| self.organizations[self.organization_of(self.store[i].hook)])
                .filter(|o| look.after.is_none_or(|after| *o > after))
                .collect();
            claimable.sort();
            claimable.dedup();
            let view = self.plan_view(&claimable);
            let claims = self.scheduler.looked(&claimable, None, self.now);
            self.check_plan(view, &claims);
            for claim in claims {
                let mut out = Vec::new();
                let picked: Vec<usize> = (0..self.store.len())
                    .filter(|i| {
                        let s = &self.store[*i];
                        self.claimable(s)
                            && self.organizations[self.organization_of(s.hook)]
                                == claim.organization
                            && !claim.skip.contains(&self.hooks[s.hook])
                    })
                    .take(claim.limit)
                    .collect();
                let taken = picked.len();
                let deliveries = picked.into_iter().map(|i| self.lease(i)).collect();
                self.scheduler.claimed(
                    claim.organization,
                    claim.limit,
                    taken,
                    deliveries,
                    self.now,
                    &mut out,
                );
                self.run(out);
            }
            match self.scheduler.claims_made() {
                Some(next) => look = next,
                None => return,
            }
        }
        panic!("a round ran past CLAIM_ROUNDS looks");
    }
}
