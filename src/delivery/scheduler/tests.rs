//! The scheduler's place/next cases, without a database, a clock or sockets.

use std::time::{Duration, Instant};

use super::{Decision, Limits, Offer, Scheduler, Shares, Signal};
use crate::domain::{DeliveryId, OrganizationId, WebhookId};
use crate::store::Lease;

/// A delivery as the scheduler sees it: what the unit tests and the
/// property test's world offer it.
#[derive(Debug)]
pub(super) struct Fake {
    pub(super) organization: OrganizationId,
    pub(super) webhook: WebhookId,
    pub(super) key: Option<String>,
    pub(super) rate: u32,
    pub(super) lease: Lease,
    pub(super) loaded_at: Instant,
}

impl Offer for Fake {
    fn organization(&self) -> OrganizationId {
        self.organization
    }
    fn webhook(&self) -> WebhookId {
        self.webhook
    }
    fn sequence(&self) -> Option<(WebhookId, &str)> {
        self.key.as_deref().map(|k| (self.webhook, k))
    }
    fn lease(&self) -> Lease {
        self.lease
    }
    fn loaded_at(&self) -> Instant {
        self.loaded_at
    }
    fn rate_limit(&self) -> u32 {
        self.rate
    }
}

fn fake(organization: OrganizationId, webhook: WebhookId, at: Instant) -> Fake {
    Fake {
        organization,
        webhook,
        key: None,
        rate: 0,
        lease: Lease {
            delivery: DeliveryId::generate(),
            until: chrono::Utc::now(),
        },
        loaded_at: at,
    }
}

fn scheduler(max: usize, per_endpoint: usize) -> Scheduler<Fake> {
    Scheduler::new(
        Limits {
            max_in_flight: max,
            reserve: super::reserve(max),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            turns_in_database: false,
        },
        Shares::alone(per_endpoint),
    )
}

fn org() -> OrganizationId {
    OrganizationId::from_uuid(uuid::Uuid::new_v4())
}

fn sends(out: &[Decision<Fake>]) -> usize {
    out.iter()
        .filter(|d| matches!(d, Decision::Send { .. }))
        .count()
}

fn given_back(out: &[Decision<Fake>]) -> usize {
    out.iter()
        .filter(|d| matches!(d, Decision::GiveBack(_)))
        .count()
}

#[test]
fn a_quiet_organization_gets_a_reserve_slot_when_every_regular_one_is_taken() {
    let now = Instant::now();
    let mut s = scheduler(2, 8);
    let (busy, quiet) = (org(), org());
    let mut out = Vec::new();
    for _ in 0..2 {
        s.offer(fake(busy, WebhookId::generate(), now), now, &mut out);
    }
    assert_eq!(sends(&out), 2);
    // Busy holds every regular slot: its next one goes back, quiet's starts.
    let mut out = Vec::new();
    assert!(s.offer(fake(busy, WebhookId::generate(), now), now, &mut out));
    assert!(!s.offer(fake(quiet, WebhookId::generate(), now), now, &mut out));
    assert_eq!((sends(&out), given_back(&out)), (1, 1));
    assert_eq!((s.regular_used, s.reserve_used), (2, 1));
}

#[test]
fn an_organization_over_its_share_gives_back_what_waits_when_its_slot_frees() {
    let now = Instant::now();
    let mut s = scheduler(2, 1);
    let (a, b) = (org(), org());
    let (w1, w2) = (WebhookId::generate(), WebhookId::generate());
    let mut out = Vec::new();
    s.offer(fake(a, w1, now), now, &mut out);
    s.offer(fake(a, w2, now), now, &mut out);
    s.offer(fake(a, w1, now), now, &mut out); // waits for w1's one slot
    let slot = out.iter().find_map(|d| d.slot()).expect("a slot");
    s.tenants.set_waiting(b, true);
    let mut out = Vec::new();
    s.attempted(slot, Signal::Success, now, &mut out);
    assert_eq!((sends(&out), given_back(&out)), (0, 1));
    assert_eq!(s.regular_used, 1);
}

#[test]
fn a_stale_delivery_is_given_back_and_a_busy_sequence_takes_no_second_slot() {
    let now = Instant::now();
    let mut s = scheduler(8, 8);
    let (a, w) = (org(), WebhookId::generate());
    s.edited(Some(w), now + Duration::from_millis(1));
    let mut out = Vec::new();
    assert!(s.offer(fake(a, w, now), now, &mut out));
    let later = now + Duration::from_millis(2);
    let ordered = |key: &str| Fake {
        key: Some(key.into()),
        ..fake(a, w, later)
    };
    let mut out = Vec::new();
    assert!(!s.offer(ordered("k"), later, &mut out));
    assert!(s.offer(ordered("k"), later, &mut out));
    assert!(!s.offer(ordered("other"), later, &mut out));
    assert_eq!((sends(&out), given_back(&out)), (2, 1));
}

/// `can_take` as it decided one delivery at a time before the hand-off
/// quota (design §2.4): the reference the quota must match.
fn can_take(
    s: &mut Scheduler<Fake>,
    organization: OrganizationId,
    webhook: WebhookId,
    kept: usize,
    now: Instant,
) -> bool {
    let max = s.limits.max_in_flight;
    let regular = max.saturating_sub(s.regular_used);
    let reserve = s.limits.reserve.saturating_sub(s.reserve_used);
    let regular_free = regular.saturating_sub(kept);
    let any_free = (regular + reserve).saturating_sub(kept);
    let limit = s.windows.limit(webhook);
    let endpoint_free = limit > 0
        && s.endpoints
            .get(&webhook)
            .is_none_or(|e| e.running < limit || e.waiting.len() < limit);
    if !endpoint_free || s.booked.booked(webhook, || now) {
        return false;
    }
    let tenants = &s.tenants;
    let can = (regular_free > 0 && tenants.may_start(organization, max))
        || (any_free > 0 && tenants.may_overdraw(organization));
    if !can {
        s.tenants.set_waiting(organization, true);
    }
    can
}

/// A webhook's state: slots running and deliveries waiting (if the
/// workers hold any), halvings of its window, booked.
type Hook = (Option<(usize, usize)>, usize, bool);

/// A scheduler's state, to build twice alike.
#[derive(Debug, Clone)]
struct State {
    max: usize,
    per_endpoint: usize,
    fenced: bool,
    regular_used: usize,
    reserve_used: usize,
    /// Per organization: slots it holds, and whether it waits.
    tenants: Vec<(usize, bool)>,
    hooks: Vec<Hook>,
    kept: usize,
    /// The batch: (organization, webhook) per delivery.
    batch: Vec<(usize, usize)>,
}

fn build(
    state: &State,
    orgs: &[OrganizationId],
    hooks: &[WebhookId],
    now: Instant,
) -> Scheduler<Fake> {
    let mut s = scheduler(state.max, state.per_endpoint);
    s.regular_used = state.regular_used.min(state.max);
    s.reserve_used = state.reserve_used.min(s.limits.reserve);
    for (o, (running, waiting)) in orgs.iter().zip(&state.tenants) {
        for _ in 0..*running {
            s.tenants.started(*o);
        }
        s.tenants.set_waiting(*o, *waiting);
    }
    for (i, (w, (endpoint, halvings, booked))) in hooks.iter().zip(&state.hooks).enumerate() {
        if let Some((running, waiting)) = endpoint {
            let endpoint = s.endpoints.entry(*w).or_default();
            endpoint.running = *running;
            let o = orgs[i % orgs.len()];
            endpoint.waiting = (0..*waiting).map(|_| fake(o, *w, now)).collect();
        }
        for _ in 0..*halvings {
            s.windows.record(*w, Signal::Overloaded);
        }
        if *booked {
            let reach = Duration::from_secs(1);
            s.booked.heard(*w, now, reach * 2, reach);
        }
    }
    if state.fenced {
        s.fence();
    }
    s
}

fn state() -> impl proptest::strategy::Strategy<Value = State> {
    use proptest::prelude::*;
    let hook = (
        proptest::option::of((0..4usize, 0..4usize)),
        0..3usize,
        proptest::bool::weighted(0.2),
    );
    (
        (1..8usize, 1..4usize, proptest::bool::weighted(0.1)),
        (0..9usize, 0..2usize, 0..4usize),
        proptest::collection::vec((0..4usize, any::<bool>()), 1..5),
        proptest::collection::vec(hook, 1..6),
        proptest::collection::vec((any::<usize>(), any::<usize>()), 1..16),
    )
        .prop_map(
            |(
                (max, per_endpoint, fenced),
                (regular_used, reserve_used, kept),
                tenants,
                hooks,
                batch,
            )| {
                let batch = batch
                    .into_iter()
                    .map(|(o, w)| (o % tenants.len(), w % hooks.len()))
                    .collect();
                State {
                    max,
                    per_endpoint,
                    fenced,
                    regular_used,
                    reserve_used,
                    tenants,
                    hooks,
                    kept,
                    batch,
                }
            },
        )
}

proptest::proptest! {
    /// One quota for the batch, then a take per delivery, decides as
    /// `can_take` did per delivery, each admission keeping one place more,
    /// and leaves the same organizations waiting.
    #[test]
    fn a_hand_off_quota_decides_a_batch_as_can_take_did_delivery_by_delivery(state in state()) {
        let now = Instant::now();
        let orgs: Vec<_> = state.tenants.iter().map(|_| org()).collect();
        let hooks: Vec<_> = state.hooks.iter().map(|_| WebhookId::generate()).collect();
        let mut before = build(&state, &orgs, &hooks, now);
        let mut kept = state.kept;
        let expected: Vec<bool> = state
            .batch
            .iter()
            .map(|(o, w)| {
                let can = can_take(&mut before, orgs[*o], hooks[*w], kept, now);
                kept += usize::from(can);
                can
            })
            .collect();

        let mut after = build(&state, &orgs, &hooks, now);
        let mut batch_orgs: Vec<_> = state.batch.iter().map(|(o, _)| orgs[*o]).collect();
        batch_orgs.sort_unstable();
        batch_orgs.dedup();
        let mut quota = after.hand_off(&batch_orgs, state.kept, now);
        let got: Vec<bool> = state
            .batch
            .iter()
            .map(|(o, w)| quota.take(orgs[*o], hooks[*w]))
            .collect();
        after.left_waiting(quota.waiting());

        proptest::prop_assert_eq!(got, expected);
        proptest::prop_assert_eq!(after.tenants.waiting(), before.tenants.waiting());
    }
}

#[test]
fn the_workers_are_idle_only_once_what_they_gave_back_is_released_and_looked_for() {
    let now = Instant::now();
    let mut s = scheduler(8, 8);
    let (a, w) = (org(), WebhookId::generate());
    s.edited(Some(w), now + Duration::from_millis(1));
    let mut out = Vec::new();
    assert!(s.offer(fake(a, w, now), now, &mut out), "stale: given back");
    // A round before the release: its lease still holds, nothing is found.
    assert!(s.start_round(now).is_some());
    assert!(s.looked(&[], None, now).is_empty());
    let activity = s.activity(0);
    assert_eq!((activity.returning, activity.idle), (1, false));

    s.returned(1);
    assert!(!s.activity(0).idle, "released: a claim must look for it");
    assert!(s.start_round(now).is_some());
    assert!(s.looked(&[], None, now).is_empty());
    assert!(s.activity(0).idle);
}
