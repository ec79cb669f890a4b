//! Organizations share the delivery slots fairly.
//!
//! While several organizations have work, each may hold up to its share,
//! `max_in_flight / organizations` (rounded up), of the slots; a lone
//! organization takes them all (work-conserving). Slots an organization holds
//! beyond its share are given up as its attempts end, to whoever waits.
//! Because attempts cannot be cut short, a small reserve of extra slots lets
//! an organization that holds none start one delivery at once even while
//! others fill every regular slot, so a quiet organization never queues
//! behind another's backlog.

use std::collections::{HashMap, HashSet};

use crate::domain::OrganizationId;

/// The slots each organization holds, and which ones have work waiting.
#[derive(Debug, Default)]
pub(in crate::delivery) struct Tenants {
    running: HashMap<OrganizationId, usize>,
    /// Organizations with due deliveries this process could not take yet.
    waiting: HashSet<OrganizationId>,
}

/// Extra slots, beyond `max_in_flight`, for organizations that hold none:
/// a sixteenth, at least one.
pub(in crate::delivery) fn reserve(max_in_flight: usize) -> usize {
    (max_in_flight / 16).max(1)
}

impl Tenants {
    /// How many organizations compete for slots now.
    fn active(&self) -> usize {
        let waiting_only = self
            .waiting
            .iter()
            .filter(|o| !self.running.contains_key(o))
            .count();
        (self.running.len() + waiting_only).max(1)
    }

    /// The slots one organization may hold while others wait.
    pub(in crate::delivery) fn share(&self, max_in_flight: usize) -> usize {
        max_in_flight.div_ceil(self.active())
    }

    pub(in crate::delivery) fn running(&self, organization: OrganizationId) -> usize {
        self.running.get(&organization).copied().unwrap_or(0)
    }

    /// Organizations noted as waiting, for the property test's checks.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> &HashSet<OrganizationId> {
        &self.waiting
    }

    fn others_waiting(&self, organization: OrganizationId) -> bool {
        self.waiting.iter().any(|o| *o != organization)
    }

    /// May `organization` take one more regular slot?
    pub(in crate::delivery) fn may_start(
        &self,
        organization: OrganizationId,
        max_in_flight: usize,
    ) -> bool {
        !self.others_waiting(organization) || self.within_share(organization, max_in_flight)
    }

    /// Does `organization` hold fewer slots than its share?
    pub(in crate::delivery) fn within_share(
        &self,
        organization: OrganizationId,
        max_in_flight: usize,
    ) -> bool {
        self.running(organization) < self.share(max_in_flight)
    }

    /// May `organization` take a reserve slot (every regular one is taken)?
    pub(in crate::delivery) fn may_overdraw(&self, organization: OrganizationId) -> bool {
        self.running(organization) == 0
    }

    /// True when `organization` holds more than its share while others
    /// wait: a slot it frees goes back to the pool.
    pub(in crate::delivery) fn over_share(
        &self,
        organization: OrganizationId,
        max_in_flight: usize,
    ) -> bool {
        self.others_waiting(organization) && self.running(organization) > self.share(max_in_flight)
    }

    pub(in crate::delivery) fn started(&mut self, organization: OrganizationId) {
        *self.running.entry(organization).or_default() += 1;
    }

    pub(in crate::delivery) fn finished(&mut self, organization: OrganizationId) {
        if let Some(n) = self.running.get_mut(&organization) {
            *n -= 1;
            if *n == 0 {
                self.running.remove(&organization);
            }
        }
    }

    /// `organization` has due work this process has not taken (`true`), or
    /// none left (`false`).
    pub(in crate::delivery) fn set_waiting(&mut self, organization: OrganizationId, waiting: bool) {
        if waiting {
            self.waiting.insert(organization);
        } else {
            self.waiting.remove(&organization);
        }
    }

    /// A look for organizations with pending deliveries covered the ids
    /// after `from` up to `to` (both open ends when `None`) and found
    /// `found`: any other organization in that range waits no longer. Without
    /// this, one whose last delivery was taken by a full claim would be
    /// thought waiting until its next short claim, and hold every other
    /// organization to its share meanwhile.
    pub(in crate::delivery) fn not_pending(
        &mut self,
        from: Option<OrganizationId>,
        to: Option<OrganizationId>,
        found: &[OrganizationId],
    ) {
        self.waiting.retain(|o| {
            let covered = from.is_none_or(|f| *o > f) && to.is_none_or(|t| *o <= t);
            !covered || found.contains(o)
        });
    }

    /// How many deliveries to claim for each of `organizations` (those with
    /// pending work, in the order found), given `room` free regular slots
    /// and `reserve_room` free reserve slots.
    pub(in crate::delivery) fn plan(
        &self,
        organizations: &[OrganizationId],
        room: usize,
        reserve_room: usize,
        max_in_flight: usize,
    ) -> Vec<(OrganizationId, usize)> {
        if room == 0 {
            // Every regular slot is taken: one each for those holding none.
            return organizations
                .iter()
                .filter(|o| self.may_overdraw(**o))
                .take(reserve_room)
                .map(|o| (*o, 1))
                .collect();
        }
        // Competing: those found now and those already holding slots.
        let mut competing: HashSet<OrganizationId> = organizations.iter().copied().collect();
        competing.extend(self.running.keys().copied());
        let share = max_in_flight.div_ceil(competing.len().max(1));
        let mut plan: Vec<(OrganizationId, usize)> =
            organizations.iter().map(|o| (*o, 0)).collect();
        let cap = |o: OrganizationId| share.saturating_sub(self.running(o));
        // Water-filling: one slot at a time to each organization under its
        // share, so each gets an equal part of what is free.
        let mut left = room;
        while left > 0 {
            let mut gave = false;
            for (o, n) in plan.iter_mut() {
                if left > 0 && *n < cap(*o) {
                    *n += 1;
                    left -= 1;
                    gave = true;
                }
            }
            if !gave {
                break;
            }
        }
        // Work-conserving: what no share wants goes to everyone with work.
        // Claims simply come back short where there is less.
        if left > 0 {
            let each = left.div_ceil(plan.len().max(1));
            for (_, n) in plan.iter_mut() {
                let extra = each.min(left);
                *n += extra;
                left -= extra;
            }
        }
        plan.retain(|(_, n)| *n > 0);
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrganizationId {
        OrganizationId::from_uuid(uuid::Uuid::new_v4())
    }

    #[test]
    fn a_lone_organization_may_take_every_slot() {
        let mut tenants = Tenants::default();
        let a = org();
        for _ in 0..256 {
            assert!(tenants.may_start(a, 256));
            tenants.started(a);
        }
        assert!(!tenants.over_share(a, 256));
        assert_eq!(tenants.plan(&[a], 10, 16, 256), [(a, 10)]);
    }

    #[test]
    fn while_another_waits_an_organization_keeps_to_its_share() {
        let mut tenants = Tenants::default();
        let (a, b) = (org(), org());
        for _ in 0..256 {
            tenants.started(a);
        }
        tenants.set_waiting(b, true);
        assert_eq!(tenants.share(256), 128);
        assert!(tenants.over_share(a, 256));
        assert!(!tenants.may_start(a, 256));
        assert!(tenants.may_start(b, 256));
        // A freed slot goes to b, none to a.
        assert_eq!(tenants.plan(&[a, b], 1, 16, 256), [(b, 1)]);
    }

    #[test]
    fn free_slots_are_split_evenly_between_organizations_with_work() {
        let tenants = Tenants::default();
        let (a, b, c) = (org(), org(), org());
        let plan = tenants.plan(&[a, b, c], 9, 16, 256);
        assert_eq!(plan, [(a, 3), (b, 3), (c, 3)]);
        let plan = tenants.plan(&[a, b], 7, 16, 256);
        assert_eq!(plan.iter().map(|(_, n)| n).sum::<usize>(), 7);
        assert!(plan.iter().all(|(_, n)| (3..=4).contains(n)));
    }

    #[test]
    fn with_every_slot_taken_only_organizations_holding_none_may_overdraw() {
        let mut tenants = Tenants::default();
        let (a, b, c) = (org(), org(), org());
        for _ in 0..8 {
            tenants.started(a);
        }
        tenants.started(c);
        assert_eq!(tenants.plan(&[a, b, c], 0, 1, 8), [(b, 1)]);
        assert!(tenants.may_overdraw(b));
        assert!(!tenants.may_overdraw(c));
        assert_eq!(tenants.plan(&[a, c], 0, 1, 8), []);
    }

    #[test]
    fn an_organization_over_its_share_gets_nothing_while_others_are_under() {
        let mut tenants = Tenants::default();
        let (a, b) = (org(), org());
        for _ in 0..6 {
            tenants.started(a);
        }
        // Share of 8 between two is 4: a is over, b may have all 2 free.
        assert_eq!(tenants.plan(&[a, b], 2, 1, 8), [(b, 2)]);
    }

    #[test]
    fn an_organization_a_look_passed_over_waits_no_longer() {
        let mut tenants = Tenants::default();
        let mut orgs = [org(), org(), org()];
        orgs.sort();
        let [a, b, c] = orgs;
        for _ in 0..8 {
            tenants.started(a);
        }
        tenants.set_waiting(b, true);
        tenants.set_waiting(c, true);
        assert!(tenants.over_share(a, 8));
        // A look up to b found only a: b has nothing pending; c, beyond
        // the look, may still.
        tenants.not_pending(None, Some(b), &[a]);
        assert!(tenants.others_waiting(a));
        tenants.not_pending(Some(b), None, &[a]);
        assert!(!tenants.others_waiting(a));
        assert!(!tenants.over_share(a, 8));
    }

    #[test]
    fn finishing_forgets_an_organization_with_nothing_running() {
        let mut tenants = Tenants::default();
        let a = org();
        tenants.started(a);
        tenants.finished(a);
        assert_eq!(tenants.running(a), 0);
        assert!(tenants.running.is_empty());
        assert_eq!(reserve(256), 16);
        assert_eq!(reserve(4), 1);
    }
}
