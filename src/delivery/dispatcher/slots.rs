//! Who holds the delivery slots: admitting hand-offs, placing claimed
//! deliveries on their endpoint's slots, and what a slot does after each
//! attempt. The decisions themselves are the scheduler's.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Inner, Slots};
use crate::delivery::scheduler::Signal;
use crate::domain::{OrganizationId, WebhookId};
use crate::store::{Claimed, Lease};
use tokio::sync::OwnedSemaphorePermit;

impl Inner {
    /// Whether a delivery of `organization` to `webhook`, published now, can
    /// start at once; if not, the organization is noted as waiting.
    pub(super) fn can_take(&self, organization: OrganizationId, webhook: WebhookId) -> bool {
        let max = self.config.max_in_flight;
        // Places kept for deliveries admitted before and not yet taken in
        // are not free.
        let kept = self.kept.load(Ordering::Relaxed);
        let regular_free = self.permits.available_permits().saturating_sub(kept);
        let any_free = (self.permits.available_permits() + self.reserve.available_permits())
            .saturating_sub(kept);
        let mut slots = self.slots.lock().expect("lock");
        let limit = slots.windows.limit(webhook);
        let endpoint_free = limit > 0
            && slots
                .endpoints
                .get(&webhook)
                .is_none_or(|e| e.running < limit || e.waiting.len() < limit);
        if !endpoint_free || slots.booked.booked(webhook, Instant::now) {
            return false;
        }
        let tenants = &slots.tenants;
        let can = (regular_free > 0 && tenants.may_start(organization, max))
            || (any_free > 0 && tenants.may_overdraw(organization));
        if !can {
            slots.tenants.set_waiting(organization, true);
        }
        can
    }

    /// Webhooks whose every slot is taken, or whose turns are booked
    /// beyond reach: not worth claiming for.
    pub(super) fn saturated_endpoints(&self) -> Vec<WebhookId> {
        let mut slots = self.slots.lock().expect("lock");
        let mut skip = slots.booked.now_booked(Instant::now);
        skip.extend(
            slots
                .endpoints
                .iter()
                .filter(|(id, e)| e.running >= slots.windows.limit(**id))
                .map(|(id, _)| *id),
        );
        skip
    }

    /// Runs a claimed delivery now if its webhook has a free slot and a
    /// delivery slot is free (a reserve one if its organization holds none),
    /// else lets it wait for its webhook's slot (at most a slot's worth per
    /// webhook, so the wait stays well inside the lease), else gives it back.
    /// Whose turn it is was decided before: at admission and in the claim.
    pub(super) fn place(&self, claim: Claimed) -> Placed {
        if self.expired(&claim) {
            return Placed::Release(claim.lease);
        }
        let organization = claim.organization_id;
        let mut slots = self.slots.lock().expect("lock");
        let Slots {
            endpoints,
            windows,
            tenants,
            ..
        } = &mut *slots;
        let cap = windows.limit(claim.webhook_id);
        let endpoint = endpoints.entry(claim.webhook_id).or_default();
        if endpoint.running < cap {
            let permit = self.permits.clone().try_acquire_owned().ok().or_else(|| {
                tenants
                    .may_overdraw(organization)
                    .then(|| self.reserve.clone().try_acquire_owned().ok())
                    .flatten()
            });
            if let Some(permit) = permit {
                endpoint.running += 1;
                tenants.started(organization);
                return Placed::Run(Box::new(claim), permit);
            }
            tenants.set_waiting(organization, true);
        } else if endpoint.waiting.len() < cap {
            endpoint.waiting.push_back(claim);
            return Placed::Waiting;
        }
        if endpoint.running == 0 && endpoint.waiting.is_empty() {
            endpoints.remove(&claim.webhook_id);
        }
        Placed::Release(claim.lease)
    }

    /// After an attempt on `webhook`'s slot, which said `signal` of its
    /// health: the next delivery waiting for it, or the slot is freed. It is
    /// freed early when the webhook has more requests in flight than its
    /// window now allows (the others in flight go on with what waits), and
    /// with its waiting deliveries given back when the organization holds
    /// more than its share while others wait.
    pub(super) fn next_for(
        &self,
        webhook: WebhookId,
        organization: OrganizationId,
        signal: Signal,
    ) -> Then {
        let max = self.config.max_in_flight;
        let mut slots = self.slots.lock().expect("lock");
        let Slots {
            endpoints,
            windows,
            tenants,
            ..
        } = &mut *slots;
        windows.record(webhook, signal);
        let Some(endpoint) = endpoints.get_mut(&webhook) else {
            return Then::Done;
        };
        let over_share = tenants.over_share(organization, max);
        let over_window = endpoint.running > windows.limit(webhook);
        if !over_share
            && !over_window
            && let Some(next) = endpoint.waiting.pop_front()
        {
            return Then::Send(Box::new(next));
        }
        let mut given_back: Vec<Lease> = if over_share {
            endpoint.waiting.drain(..).map(|c| c.lease).collect()
        } else {
            Vec::new()
        };
        endpoint.running -= 1;
        if endpoint.running == 0 {
            // The last slot goes with its window shut (this process's share
            // fell to none): what waits for it goes back to the store.
            given_back.extend(endpoint.waiting.drain(..).map(|c| c.lease));
            endpoints.remove(&webhook);
        }
        if !given_back.is_empty() {
            tenants.set_waiting(organization, true);
        }
        tenants.finished(organization);
        Then::Yield(given_back)
    }
}

/// What a slot does after an attempt.
pub(super) enum Then {
    /// Send this delivery to the same webhook.
    Send(Box<Claimed>),
    /// The slot is free; these deliveries go back to the store.
    Yield(Vec<Lease>),
    /// Nothing was held for the webhook.
    Done,
}

/// Where a claimed delivery goes.
pub(super) enum Placed {
    Run(Box<Claimed>, OwnedSemaphorePermit),
    Waiting,
    Release(Lease),
}
