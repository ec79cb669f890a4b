//! The invariants of design §2.5, read from the scheduler's state and
//! recomputed from the world's own count of who holds what.

use std::collections::{HashMap, HashSet};

use super::super::super::round::Claim;
use super::{Decision, Leased, Op, Outcome, Place, SlotState, World};
use crate::domain::{DeliveryId, OrganizationId, WebhookId};

/// An organization's place in the fair share, before a decision.
pub(in super::super) struct ShareView {
    pub running: usize,
    pub share: usize,
    pub others_waiting: bool,
}

/// What a look's plan is checked against: the room, and per organization
/// found its cap (the share less what it holds).
pub(in super::super) struct PlanView {
    room: usize,
    reserve_room: usize,
    caps: HashMap<OrganizationId, usize>,
}

/// Liveness: steps after the last offer within which everything drains.
const DRAIN_STEPS: usize = 20_000;

impl World {
    /// Slots per organization, counted from the slots themselves.
    fn running_by_organization(&self) -> HashMap<OrganizationId, usize> {
        let mut running = HashMap::new();
        for slot in self.scheduler.slots.values() {
            *running.entry(slot.organization).or_default() += 1;
        }
        running
    }

    pub(super) fn fair_share_view(&self, organization: OrganizationId) -> ShareView {
        let running = self.running_by_organization();
        let waiting = self.scheduler.tenants.waiting();
        let active: HashSet<OrganizationId> =
            running.keys().chain(waiting.iter()).copied().collect();
        ShareView {
            running: running.get(&organization).copied().unwrap_or(0),
            share: self.config.max_in_flight.div_ceil(active.len().max(1)),
            others_waiting: waiting.iter().any(|o| *o != organization),
        }
    }

    /// A delivery handed off started a new slot: a regular one only within
    /// the organization's share while others wait, a reserve one only for
    /// an organization that held none.
    pub(super) fn check_fair_start(
        &self,
        organization: OrganizationId,
        before: ShareView,
        out: &[Decision<Leased>],
    ) {
        let Some(slot) = out.iter().find_map(|d| d.slot()) else {
            return;
        };
        let Some(place) = self.scheduler.slots.get(&slot).map(|s| s.place) else {
            return;
        };
        match place {
            Place::Regular if before.others_waiting => assert!(
                before.running < before.share,
                "{organization:?} started a regular slot holding {} of a share of {} while others wait",
                before.running,
                before.share
            ),
            Place::Regular => {}
            Place::Reserve => {
                assert_eq!(before.running, 0, "a reserve slot for a busy organization")
            }
        }
    }

    pub(super) fn plan_view(&self, claimable: &[OrganizationId]) -> PlanView {
        let limits = &self.scheduler.limits;
        let running = self.running_by_organization();
        let competing: HashSet<OrganizationId> =
            claimable.iter().chain(running.keys()).copied().collect();
        let share = limits.max_in_flight.div_ceil(competing.len().max(1));
        PlanView {
            room: limits
                .max_in_flight
                .saturating_sub(self.scheduler.regular_used),
            reserve_room: limits.reserve.saturating_sub(self.scheduler.reserve_used),
            caps: claimable
                .iter()
                .map(|o| {
                    (
                        *o,
                        share.saturating_sub(running.get(o).copied().unwrap_or(0)),
                    )
                })
                .collect(),
        }
    }

    /// A look's plan: never more than the room; each organization within
    /// its share unless the shares together leave room over; with every
    /// regular slot taken, one each for organizations holding none.
    pub(super) fn check_plan(&self, view: PlanView, claims: &[Claim]) {
        let total: usize = claims.iter().map(|c| c.limit).sum();
        if view.room == 0 {
            assert!(
                claims.len() <= view.reserve_room,
                "more reserve claims than room"
            );
            for claim in claims {
                assert_eq!(claim.limit, 1, "a reserve claim of more than one");
                let cap = view.caps.get(&claim.organization).copied();
                assert!(cap.is_some(), "a claim for an organization not found");
            }
            return;
        }
        assert!(
            total <= view.room,
            "claims of {total} with room for {}",
            view.room
        );
        if view.caps.values().sum::<usize>() >= view.room {
            for claim in claims {
                let cap = view.caps[&claim.organization];
                assert!(
                    claim.limit <= cap,
                    "{:?} planned {} over its share's cap {cap}",
                    claim.organization,
                    claim.limit
                );
            }
        }
    }

    /// Caps, conservation and the scheduler's own books, after every step.
    pub(super) fn check(&self) {
        let s = &self.scheduler;
        let max = s.limits.max_in_flight;
        assert!(
            s.regular_used <= max,
            "regular slots {} > {max}",
            s.regular_used
        );
        assert!(s.reserve_used <= s.limits.reserve, "reserve slots over");
        let places = |p| s.slots.values().filter(|slot| slot.place == p).count();
        assert_eq!(places(Place::Regular), s.regular_used);
        assert_eq!(places(Place::Reserve), s.reserve_used);
        let running = self.running_by_organization();
        for (organization, n) in &running {
            assert_eq!(
                s.tenants.running(*organization),
                *n,
                "tenants' count drifted"
            );
            let reserve = s
                .slots
                .values()
                .filter(|slot| slot.organization == *organization && slot.place == Place::Reserve)
                .count();
            assert!(
                reserve <= 1,
                "{organization:?} holds {reserve} reserve slots"
            );
        }
        let cap = self.config.per_endpoint;
        let mut by_webhook: HashMap<WebhookId, usize> = HashMap::new();
        for slot in s.slots.values() {
            *by_webhook.entry(slot.webhook).or_default() += 1;
        }
        for (webhook, endpoint) in &s.endpoints {
            let slots = by_webhook.remove(webhook).unwrap_or(0);
            assert_eq!(endpoint.running, slots, "endpoint's count drifted");
            assert!(
                endpoint.running <= cap,
                "{} running > cap {cap}",
                endpoint.running
            );
            assert!(
                endpoint.waiting.len() <= cap,
                "{} waiting > cap {cap}",
                endpoint.waiting.len()
            );
        }
        assert!(by_webhook.is_empty(), "slots of an endpoint it forgot");
        let waiting: usize = s.endpoints.values().map(|e| e.waiting.len()).sum();
        assert_eq!(s.held, waiting, "the held count drifted");
        // Conservation: what the world has offered and not seen sent or
        // given back is exactly what the scheduler holds.
        let mut held: Vec<DeliveryId> = s
            .endpoints
            .values()
            .flat_map(|e| e.waiting.iter().map(|d| d.lease.delivery))
            .collect();
        held.extend(s.slots.values().filter_map(|slot| match &slot.state {
            SlotState::Turn(d) => Some(d.lease.delivery),
            SlotState::Sending => None,
        }));
        let held_set: HashSet<DeliveryId> = held.iter().copied().collect();
        assert_eq!(held.len(), held_set.len(), "a delivery held twice");
        assert_eq!(held_set, self.outstanding, "held and offered disagree");
        let sequences: HashSet<_> = s
            .slots
            .values()
            .filter_map(|slot| slot.sequence.clone())
            .collect();
        assert_eq!(sequences, s.sequences, "sequences with a slot drifted");
    }

    /// Liveness: with no more offers but the claims, and every attempt a
    /// success, the scheduler and the store empty in bounded steps.
    pub(in super::super) fn drain(&mut self) {
        for _ in 0..DRAIN_STEPS {
            self.step(super::Op::Tick { millis: 1 });
            let op = if self.pick_in_flight(0, false).is_some() {
                Op::Finish {
                    pick: 0,
                    outcome: Outcome::Done,
                    signal: super::Signal::Success,
                }
            } else if self.pick_in_flight(0, true).is_some() {
                Op::Report {
                    pick: 0,
                    signal: super::Signal::Success,
                }
            } else if !self.holds.is_empty() {
                Op::TurnCame { pick: 0 }
            } else if !self.store.is_empty() || !self.scheduler.activity(0).idle {
                Op::Round
            } else {
                return;
            };
            self.step(op);
        }
        panic!(
            "not drained in {DRAIN_STEPS} steps: {} stored, {:?}",
            self.store.len(),
            self.scheduler.activity(0),
        );
    }
}
