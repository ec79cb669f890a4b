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
