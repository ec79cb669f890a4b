//! What publishing may lease to this process's workers: a quota the
//! scheduler fills in once per publish batch, under its lock, before the
//! transaction. Publishing reads it and counts on it; it never calls back
//! up into the workers while the transaction is open.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::domain::{OrganizationId, WebhookId};

/// The deliveries of one publish batch this process's workers can start at
/// once, written leased to them and handed straight over. `take` decides
/// for one delivery, as the scheduler would have at that moment: each place
/// it grants is one fewer for the rest of the batch.
#[derive(Debug, Clone, Default)]
pub struct HandOff {
    lease: Duration,
    /// Free regular slots, less those kept for hand-offs on their way and
    /// those taken from this quota.
    regular_free: usize,
    /// Free slots, the reserve included, likewise.
    any_free: usize,
    /// The batch's organizations; one not here takes nothing.
    organizations: HashMap<OrganizationId, Tenant>,
    /// Webhooks whose endpoints take no more from this process now. Any
    /// other webhook has room (one the workers hold nothing for has its
    /// whole window).
    refused: HashSet<WebhookId>,
    /// Organizations refused a place, in the order first refused: they wait
    /// for slots, and the scheduler must hear it after the commit.
    waiting: Vec<OrganizationId>,
}

/// What one organization of the batch may take, as the fair share says at
/// the start of the batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tenant {
    /// It may take a regular slot.
    pub may_start: bool,
    /// It holds fewer slots than its share: whether it may take a regular
    /// slot once another organization waits.
    pub within_share: bool,
    /// It holds no slot, so it may take a reserve one.
    pub may_overdraw: bool,
}

impl HandOff {
    /// A quota granting leases of `lease`, with `regular_free` regular and
    /// `any_free` slots in all free, to `organizations`, on any webhook but
    /// the `refused` ones.
    pub fn new(
        lease: Duration,
        regular_free: usize,
        any_free: usize,
        organizations: HashMap<OrganizationId, Tenant>,
        refused: HashSet<WebhookId>,
    ) -> Self {
        Self {
            lease,
            regular_free,
            any_free,
            organizations,
            refused,
            waiting: Vec::new(),
        }
    }

    /// Takes nothing: for publishes with no workers behind them, which wake
    /// the workers instead.
    pub fn none() -> Self {
        Self::default()
    }

    /// How long a delivery taken is leased for.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Takes a place for a delivery of `organization` to `webhook`, if one
    /// is left; a refused organization is noted as waiting (an endpoint's
    /// refusal says nothing of its organization).
    pub fn take(&mut self, organization: OrganizationId, webhook: WebhookId) -> bool {
        if self.refused.contains(&webhook) {
            return false;
        }
        let Some(tenant) = self.organizations.get(&organization) else {
            return false;
        };
        // Another organization refused here waits from now on, so this one
        // keeps to its share. The share itself cannot have moved: one
        // refused while regular slots are free holds slots already, so it
        // was counted as competing before.
        let others_wait = self.waiting.iter().any(|o| *o != organization);
        let may_start = if others_wait {
            tenant.within_share
        } else {
            tenant.may_start
        };
        let can =
            (self.regular_free > 0 && may_start) || (self.any_free > 0 && tenant.may_overdraw);
        if can {
            self.regular_free = self.regular_free.saturating_sub(1);
            self.any_free -= 1;
        } else if !self.waiting.contains(&organization) {
            self.waiting.push(organization);
        }
        can
    }

    /// The organizations refused a place: they wait for slots.
    pub fn waiting(&self) -> &[OrganizationId] {
        &self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrganizationId {
        OrganizationId::from_uuid(uuid::Uuid::new_v4())
    }

    const FREE: Tenant = Tenant {
        may_start: true,
        within_share: true,
        may_overdraw: true,
    };

    /// Holds slots, may start more while nobody else waits.
    const BUSY: Tenant = Tenant {
        may_start: true,
        within_share: false,
        may_overdraw: false,
    };

    fn quota(regular: usize, any: usize, tenants: &[(OrganizationId, Tenant)]) -> HandOff {
        HandOff::new(
            Duration::from_secs(60),
            regular,
            any,
            tenants.iter().copied().collect(),
            HashSet::new(),
        )
    }

    #[test]
    fn grants_up_to_the_free_places_then_notes_the_organization_waiting() {
        let (a, hook) = (org(), WebhookId::generate());
        let mut hand_off = quota(2, 2, &[(a, BUSY)]);
        assert!(hand_off.take(a, hook));
        assert!(hand_off.take(a, hook));
        assert!(hand_off.waiting().is_empty());
        assert!(!hand_off.take(a, hook));
        assert!(!hand_off.take(a, WebhookId::generate()));
        assert_eq!(hand_off.waiting(), [a], "noted once");
        assert_eq!(hand_off.lease(), Duration::from_secs(60));
    }

    #[test]
    fn the_reserve_is_only_for_an_organization_holding_no_slot() {
        let (busy, quiet, hook) = (org(), org(), WebhookId::generate());
        // Every regular slot taken, two reserve ones free.
        let mut hand_off = quota(0, 2, &[(busy, BUSY), (quiet, FREE)]);
        assert!(!hand_off.take(busy, hook));
        assert!(hand_off.take(quiet, hook));
        assert!(hand_off.take(quiet, hook), "holding none until placed");
        assert!(!hand_off.take(quiet, hook), "the reserve is used up");
        assert_eq!(hand_off.waiting(), [busy, quiet]);
    }

    #[test]
    fn a_regular_place_taken_is_one_place_fewer_in_all() {
        let (quiet, hook) = (org(), WebhookId::generate());
        // One regular place and one reserve place free.
        let mut hand_off = quota(1, 2, &[(quiet, FREE)]);
        assert!(hand_off.take(quiet, hook), "the regular one");
        assert!(hand_off.take(quiet, hook), "the reserve one");
        assert!(!hand_off.take(quiet, hook));
    }

    #[test]
    fn a_refused_webhook_takes_nothing_and_says_nothing_of_its_organization() {
        let (a, shut, open) = (org(), WebhookId::generate(), WebhookId::generate());
        let mut hand_off = HandOff::new(
            Duration::from_secs(60),
            4,
            5,
            [(a, FREE)].into(),
            [shut].into(),
        );
        assert!(!hand_off.take(a, shut));
        assert!(hand_off.waiting().is_empty());
        assert!(hand_off.take(a, open));
    }

    #[test]
    fn once_another_organization_waits_one_over_its_share_takes_no_regular_place() {
        let (big, small, hook) = (org(), org(), WebhookId::generate());
        let small_tenant = Tenant {
            may_start: false,
            ..BUSY
        };
        let mut hand_off = quota(4, 5, &[(big, BUSY), (small, small_tenant)]);
        assert!(hand_off.take(big, hook), "nobody else waits yet");
        assert!(!hand_off.take(small, hook));
        assert!(!hand_off.take(big, hook), "small waits now");
        assert_eq!(hand_off.waiting(), [small, big]);
        // Its own refusal does not hold an organization to its share.
        let mut alone = quota(4, 5, &[(big, BUSY)]);
        alone.waiting.push(big);
        assert!(alone.take(big, hook));
    }

    #[test]
    fn none_and_an_organization_left_out_take_nothing() {
        let (a, hook) = (org(), WebhookId::generate());
        let mut none = HandOff::none();
        assert!(!none.take(a, hook));
        assert!(none.waiting().is_empty());
        let mut hand_off = quota(4, 5, &[(a, FREE)]);
        assert!(!hand_off.take(org(), hook));
        assert!(hand_off.waiting().is_empty());
    }
}
