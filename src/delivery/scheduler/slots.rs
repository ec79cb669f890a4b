//! Who holds the delivery slots: the hand-off quota of a publish, placing
//! leased deliveries on their endpoint's slots, waiting for rate-limit turns, and
//! what a slot does after each attempt.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{Decision, Offer, Place, Scheduler, Signal, Slot, SlotId, SlotState};
use super::{booked, tenants::Tenants};
use crate::domain::{OrganizationId, WebhookId};
use crate::store::{HandOff, Tenant, Turn};

impl<D: Offer> Scheduler<D> {
    /// What a publish batch of `organizations` may lease to these workers
    /// at `now`, with `kept` places already promised to earlier hand-offs:
    /// the free slots, each organization's fair share, and the webhooks
    /// whose endpoints take no more (window shut, every slot and every
    /// waiting place taken, turns booked). Decided per delivery by
    /// [`HandOff::take`] as this scheduler would at that moment.
    pub(in crate::delivery) fn hand_off(
        &mut self,
        organizations: &[OrganizationId],
        kept: usize,
        now: Instant,
    ) -> HandOff {
        if self.windows.cap() == 0 {
            // Every window is shut (joining, fenced): no endpoint takes any.
            return HandOff::none();
        }
        let max = self.limits.max_in_flight;
        let regular = max.saturating_sub(self.regular_used);
        let reserve = self.limits.reserve.saturating_sub(self.reserve_used);
        let mut refused: HashSet<WebhookId> = self
            .endpoints
            .iter()
            .filter(|(id, e)| {
                let limit = self.windows.limit(**id);
                e.running >= limit && e.waiting.len() >= limit
            })
            .map(|(id, _)| *id)
            .collect();
        refused.extend(self.booked.now_booked(|| now));
        let tenants = &self.tenants;
        let organizations = organizations
            .iter()
            .map(|o| {
                let tenant = Tenant {
                    may_start: tenants.may_start(*o, max),
                    within_share: tenants.within_share(*o, max),
                    may_overdraw: tenants.may_overdraw(*o),
                };
                (*o, tenant)
            })
            .collect();
        HandOff::new(
            self.limits.lease,
            regular.saturating_sub(kept),
            (regular + reserve).saturating_sub(kept),
            organizations,
            refused,
        )
    }

    /// A publish left deliveries of `organizations` in the store for want
    /// of a slot ([`HandOff::waiting`]): they wait for one.
    pub(in crate::delivery) fn left_waiting(&mut self, organizations: &[OrganizationId]) {
        for organization in organizations {
            self.tenants.set_waiting(*organization, true);
        }
    }

    /// Webhooks whose every slot is taken, or whose turns are booked
    /// beyond reach: not worth claiming for.
    pub(super) fn saturated_endpoints(&mut self, now: Instant) -> Vec<WebhookId> {
        let mut skip = self.booked.now_booked(|| now);
        skip.extend(
            self.endpoints
                .iter()
                .filter(|(id, e)| e.running >= self.windows.limit(**id))
                .map(|(id, _)| *id),
        );
        skip
    }

    /// Takes a leased delivery (claimed, or handed off at publishing): runs
    /// it on a new slot if its webhook has a free slot and a delivery slot
    /// is free (a reserve one if its organization holds none), else lets it
    /// wait for its webhook's slot (at most a slot's worth per webhook, so
    /// the wait stays well inside the lease), else gives it back. Whose turn
    /// it is was decided before: by the publish's hand-off quota, or in the
    /// claim. A delivery
    /// of an ordered sequence that already has a slot is given back.
    /// Returns true when it was given back.
    pub(in crate::delivery) fn offer(
        &mut self,
        delivery: D,
        now: Instant,
        out: &mut Vec<Decision<D>>,
    ) -> bool {
        if self.expired(&delivery, now) || self.sequence_busy(&delivery) {
            self.give_back(delivery.lease(), out);
            return true;
        }
        let (organization, webhook) = (delivery.organization(), delivery.webhook());
        let cap = self.windows.limit(webhook);
        let endpoint = self.endpoints.entry(webhook).or_default();
        if endpoint.running < cap {
            let place = if self.regular_used < self.limits.max_in_flight {
                Some(Place::Regular)
            } else if self.tenants.may_overdraw(organization)
                && self.reserve_used < self.limits.reserve
            {
                Some(Place::Reserve)
            } else {
                None
            };
            if let Some(place) = place {
                endpoint.running += 1;
                self.tenants.started(organization);
                match place {
                    Place::Regular => self.regular_used += 1,
                    Place::Reserve => self.reserve_used += 1,
                }
                let slot = SlotId(self.next_slot);
                self.next_slot += 1;
                self.slots.insert(
                    slot,
                    Slot {
                        organization,
                        webhook,
                        place,
                        sequence: None,
                        state: SlotState::Sending,
                    },
                );
                self.go_on(slot, delivery, now, out);
                return false;
            }
            self.tenants.set_waiting(organization, true);
        } else if endpoint.waiting.len() < cap {
            endpoint.waiting.push_back(delivery);
            self.held += 1;
            return false;
        }
        if endpoint.running == 0 && endpoint.waiting.is_empty() {
            self.endpoints.remove(&webhook);
        }
        self.give_back(delivery.lease(), out);
        true
    }

    /// The rate-limit turn of `slot`'s webhook came: sends what it held, or
    /// gives it back if it went stale or its lease ran short meanwhile.
    pub(in crate::delivery) fn turn_came(
        &mut self,
        slot: SlotId,
        now: Instant,
        out: &mut Vec<Decision<D>>,
    ) {
        let Some(delivery) = self.take_turn_held(slot) else {
            return;
        };
        if self.expired(&delivery, now) {
            self.give_back(delivery.lease(), out);
            return self.attempted(slot, Signal::Neutral, now, out);
        }
        out.push(Decision::Send { slot, delivery });
    }

    /// The database answered `slot`'s `TakeTurn` (`None`: it failed).
    pub(in crate::delivery) fn turn_taken(
        &mut self,
        slot: SlotId,
        turn: Option<Turn>,
        now: Instant,
        out: &mut Vec<Decision<D>>,
    ) {
        let Some(webhook) = self.slots.get(&slot).map(|s| s.webhook) else {
            return;
        };
        let wait = turn.and_then(|turn| {
            let fresh_reach = booked::reach(self.limits.lease, self.limits.timeout, Duration::ZERO);
            self.booked.heard(webhook, now, turn.next_free, fresh_reach);
            turn.wait
        });
        match wait {
            Some(wait) => out.push(Decision::Hold {
                slot,
                until: now + wait,
            }),
            None => {
                // No turn within its reach: someone else's to send later.
                if let Some(delivery) = self.take_turn_held(slot) {
                    self.give_back(delivery.lease(), out);
                }
                self.attempted(slot, Signal::Neutral, now, out);
            }
        }
    }

    /// An attempt on `slot` ended, saying `signal` of its endpoint: the slot
    /// goes on with the next delivery waiting for the webhook, or is freed.
    /// It is freed early when the webhook has more requests in flight than
    /// its window now allows (the others in flight go on with what waits),
    /// and with its waiting deliveries given back when the organization
    /// holds more than its share while others wait. A waiting delivery that
    /// went stale is given back and the next one tried.
    pub(in crate::delivery) fn attempted(
        &mut self,
        slot: SlotId,
        signal: Signal,
        now: Instant,
        out: &mut Vec<Decision<D>>,
    ) {
        let Some(current) = self.slots.get_mut(&slot) else {
            return;
        };
        let (webhook, organization) = (current.webhook, current.organization);
        if let Some(sequence) = current.sequence.take() {
            self.sequences.remove(&sequence);
        }
        let mut signal = signal;
        loop {
            match self.next_for(webhook, organization, signal, out) {
                Some(next) if self.expired(&next, now) => self.give_back(next.lease(), out),
                Some(next) => return self.go_on(slot, next, now, out),
                None => return self.free(slot, out),
            }
            // Said once: deliveries given back were not attempted.
            signal = Signal::Neutral;
        }
    }

    /// `slot` goes on with `delivery`: now, or after its rate-limit turn.
    fn go_on(&mut self, slot: SlotId, delivery: D, now: Instant, out: &mut Vec<Decision<D>>) {
        let sequence = delivery.sequence().map(|(w, key)| (w, key.to_owned()));
        if let Some(sequence) = &sequence {
            self.sequences.insert(sequence.clone());
        }
        let webhook = delivery.webhook();
        let rate = delivery.rate_limit();
        let Some(state) = self.slots.get_mut(&slot) else {
            return;
        };
        state.sequence = sequence;
        if !self.limits.turns_in_database {
            let turn = self.rates.turn(webhook, rate, now);
            if turn <= now {
                return out.push(Decision::Send { slot, delivery });
            }
            state.state = SlotState::Turn(delivery);
            return out.push(Decision::Hold { slot, until: turn });
        }
        if rate == 0 {
            return out.push(Decision::Send { slot, delivery });
        }
        let waited = now.saturating_duration_since(delivery.loaded_at());
        let reach = booked::reach(self.limits.lease, self.limits.timeout, waited);
        if self.booked.booked(webhook, || now) || reach.is_zero() {
            self.give_back(delivery.lease(), out);
            return self.attempted(slot, Signal::Neutral, now, out);
        }
        state.state = SlotState::Turn(delivery);
        out.push(Decision::TakeTurn {
            slot,
            webhook,
            step: booked::step(rate),
            reach,
        });
    }

    fn take_turn_held(&mut self, slot: SlotId) -> Option<D> {
        let state = &mut self.slots.get_mut(&slot)?.state;
        match std::mem::replace(state, SlotState::Sending) {
            SlotState::Turn(delivery) => Some(delivery),
            SlotState::Sending => None,
        }
    }

    /// The next delivery for `webhook`'s slot, or `None`: the slot is to be
    /// freed (its endpoint's count already lowered, whatever must go back
    /// given back).
    fn next_for(
        &mut self,
        webhook: WebhookId,
        organization: OrganizationId,
        signal: Signal,
        out: &mut Vec<Decision<D>>,
    ) -> Option<D> {
        let max = self.limits.max_in_flight;
        self.windows.record(webhook, signal);
        let endpoint = self.endpoints.get_mut(&webhook)?;
        let over_share = self.tenants.over_share(organization, max);
        let over_window = endpoint.running > self.windows.limit(webhook);
        if !over_share && !over_window {
            // The first whose ordered sequence has no slot (most have none).
            let free = endpoint.waiting.iter().position(|d| {
                d.sequence()
                    .is_none_or(|(w, key)| !self.sequences.contains(&(w, key.to_owned())))
            });
            if let Some(next) = free.and_then(|i| endpoint.waiting.remove(i)) {
                self.held -= 1;
                return Some(next);
            }
        }
        let mut given_back: Vec<D> = if over_share {
            endpoint.waiting.drain(..).collect()
        } else {
            Vec::new()
        };
        endpoint.running -= 1;
        if endpoint.running == 0 {
            // The last slot goes with its window shut (this process's share
            // fell to none): what waits for it goes back to the store.
            given_back.extend(endpoint.waiting.drain(..));
            self.endpoints.remove(&webhook);
        }
        self.held -= given_back.len();
        if !given_back.is_empty() {
            self.tenants.set_waiting(organization, true);
        }
        for delivery in given_back {
            self.give_back(delivery.lease(), out);
        }
        Tenants::finished(&mut self.tenants, organization);
        None
    }

    /// Frees `slot`: a freed slot claims again when work was left behind.
    fn free(&mut self, slot: SlotId, out: &mut Vec<Decision<D>>) {
        let Some(freed) = self.slots.remove(&slot) else {
            return;
        };
        if let Some(sequence) = freed.sequence {
            self.sequences.remove(&sequence);
        }
        match freed.place {
            Place::Regular => self.regular_used -= 1,
            Place::Reserve => self.reserve_used -= 1,
        }
        if self.backlog {
            out.push(Decision::Look);
        }
    }

    /// True when `delivery`'s ordered sequence has a slot already.
    fn sequence_busy(&self, delivery: &D) -> bool {
        delivery
            .sequence()
            .is_some_and(|(w, key)| self.sequences.contains(&(w, key.to_owned())))
    }
}
