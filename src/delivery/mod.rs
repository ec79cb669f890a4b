//! The delivery engine: workers claim due deliveries from the outbox, sign
//! and POST them, and record each attempt; failures are retried on a schedule.
//!
//! `scheduler` decides (a pure state machine behind one lock), `dispatcher`
//! runs its decisions (claims, slots, turns, heartbeats), `attempt` makes
//! one request, `recorder` writes outcomes in batches. The path of one
//! delivery, as a diagram: `docs/delivery.md`, "The delivery path".

mod attempt;
mod client;
mod dispatcher;
pub mod egress;
mod oauth2;
mod recorder;
pub mod retention;
pub mod retry;
mod scheduler;
mod shared;
pub mod signature;
mod stale;
pub mod sweeper;
mod traced;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use crate::domain::{OrganizationId, WebhookId};
use crate::store::{Change, Claimed, HandOff};

pub use client::Client;
pub use dispatcher::{Dispatcher, HandoffsInTransit};
pub use egress::EgressProxy;
pub use retry::RetryPolicy;
pub use scheduler::Activity;
use scheduler::{Limits, Scheduler, Shares};
use shared::Shared;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Per-attempt timeout, connection included.
    pub timeout: Duration,
    /// Extra PEM roots to trust beside the web's.
    pub ca_file: Option<PathBuf>,
    /// The operator's proxy every delivery goes through, if any.
    pub egress_proxy: Option<EgressProxy>,
    /// With traces on, whether requests carry `traceparent`/`tracestate`
    /// naming the attempt's span.
    pub propagate_trace: bool,
    pub allow_private_targets: bool,
    pub retry: RetryPolicy,
    /// Requests in flight at once, all endpoints together.
    pub max_in_flight: usize,
    /// Requests in flight at once to one webhook.
    pub max_per_endpoint: usize,
    /// How often to look for work that no wake-up announced (retries that
    /// came due, work of other processes).
    pub poll_interval: Duration,
    /// How long a claimed delivery stays reserved to this process.
    pub lease: Duration,
    /// How often this process says it is alive to the others on one
    /// PostgreSQL; silent for five of these, it is counted out.
    pub heartbeat_interval: Duration,
    /// After the stop signal, how long in-flight attempts and the writing
    /// of their results may take before they are abandoned (their leases
    /// run out and they are sent again).
    pub shutdown_grace: Duration,
    /// A webhook whose deliveries all failed for this long is disabled.
    pub disable_after: Duration,
}

/// Wakes the workers when new deliveries are committed, or hands them the
/// deliveries themselves, so nothing waits for the next poll.
#[derive(Clone)]
pub struct Wakeup {
    notify: Arc<Notify>,
    handed: mpsc::UnboundedSender<Handed>,
    /// Places kept for deliveries handed off and not yet taken in.
    kept: Arc<AtomicUsize>,
    /// The workers' decisions: what publishing may hand off, and which
    /// webhooks changed, so that deliveries read before are not sent.
    scheduler: Arc<Shared>,
}

/// Deliveries leased at publishing, on their way to the workers. Their
/// places count as kept from when they are sent until the workers have
/// placed them and drop this (or it is dropped unread), so that the next
/// publish's quota does not count those places free.
struct Handed {
    deliveries: Vec<Claimed>,
    kept: Kept,
}

/// `count` places in `kept`, given back when dropped.
struct Kept {
    count: usize,
    kept: Arc<AtomicUsize>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.kept.fetch_sub(self.count, Ordering::Relaxed);
    }
}

/// The workers' end of [`Wakeup`].
pub struct Inbox {
    handed: mpsc::UnboundedReceiver<Handed>,
    /// Places kept for deliveries handed off and not yet taken in.
    kept: Arc<AtomicUsize>,
    scheduler: Arc<Shared>,
    /// This process among those delivering from one PostgreSQL.
    process: uuid::Uuid,
}

impl Wakeup {
    /// For workers delivering as `config` says; `sqlite`: the one process
    /// there can be (on PostgreSQL, others may deliver too).
    pub fn new(config: &DeliveryConfig, sqlite: bool) -> (Self, Inbox) {
        let (handed, inbox) = mpsc::unbounded_channel();
        let kept = Arc::new(AtomicUsize::new(0));
        // On PostgreSQL, other processes may be delivering too: this one
        // takes nothing until its heartbeats say which share is its own.
        let process = uuid::Uuid::new_v4();
        let shares = if sqlite {
            Shares::alone(config.max_per_endpoint)
        } else {
            Shares::joining(process, config.max_per_endpoint)
        };
        let limits = Limits {
            max_in_flight: config.max_in_flight,
            reserve: scheduler::reserve(config.max_in_flight),
            lease: config.lease,
            timeout: config.timeout,
            turns_in_database: !sqlite,
        };
        let scheduler = Shared::new(Scheduler::new(limits, shares), kept.clone());
        let wakeup = Self {
            notify: Arc::new(Notify::new()),
            handed,
            kept: kept.clone(),
            scheduler: scheduler.clone(),
        };
        let inbox = Inbox {
            handed: inbox,
            kept,
            scheduler,
            process,
        };
        (wakeup, inbox)
    }

    /// Due deliveries may be waiting in the store.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// What the next publish may lease to this process's workers, for
    /// deliveries of `organizations`: one look at the scheduler for the
    /// whole batch. After the commit, give the quota's `waiting`
    /// organizations to [`Wakeup::left_waiting`].
    pub fn hand_off_quota(&self, organizations: &[OrganizationId]) -> HandOff {
        let mut scheduler = self.scheduler.lock();
        // The workers lower it only after placing what was handed: a place
        // may count as used twice for a moment, never as free twice.
        let kept = self.kept.load(Ordering::Relaxed);
        scheduler.hand_off(organizations, kept, Instant::now())
    }

    /// A publish left deliveries of these organizations in the store for
    /// want of a slot: they wait for one (the fair share counts them).
    pub fn left_waiting(&self, organizations: &[OrganizationId]) {
        if organizations.is_empty() {
            return;
        }
        self.scheduler.lock().left_waiting(organizations);
    }

    /// These deliveries are leased to this process: send them. Their
    /// places stay kept until the workers have taken them in.
    pub fn hand_off(&self, deliveries: Vec<Claimed>) {
        let count = deliveries.len();
        {
            // Raised under the lock, so that the workers' published
            // activity shows the places kept from now on.
            let _scheduler = self.scheduler.lock();
            self.kept.fetch_add(count, Ordering::Relaxed);
        }
        let kept = Kept {
            count,
            kept: self.kept.clone(),
        };
        if self.handed.send(Handed { deliveries, kept }).is_err() {
            // The workers stopped; the leases run out and someone claims them.
            tracing::debug!("workers stopped; handed-off deliveries wait for their lease");
        }
    }

    /// A change of a webhook was committed: deliveries the workers hold
    /// for it were read before and must not be sent as they are.
    pub fn webhook_changed(&self, webhook: WebhookId) {
        self.changed(Change::Webhook(webhook));
    }

    fn changed(&self, change: Change) {
        let webhook = match change {
            Change::Webhook(id) => Some(id),
            Change::Unknown => None,
        };
        self.scheduler.lock().edited(webhook, Instant::now());
        // What is given back is claimed again at once.
        self.wake();
    }

    async fn woken(&self) {
        self.notify.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryId, EventId, OrganizationId, SigningSecret, WebhookUrl};
    use crate::store::{Lease, Sending};

    fn config() -> DeliveryConfig {
        DeliveryConfig {
            timeout: Duration::from_secs(5),
            ca_file: None,
            egress_proxy: None,
            propagate_trace: true,
            allow_private_targets: false,
            retry: RetryPolicy::new(Vec::new(), Duration::from_secs(60)),
            max_in_flight: 8,
            max_per_endpoint: 2,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
            disable_after: Duration::from_secs(3600),
        }
    }

    fn claimed() -> Claimed {
        let id = DeliveryId::generate();
        Claimed {
            id,
            organization_id: OrganizationId::from_uuid(uuid::Uuid::new_v4()),
            webhook_id: WebhookId::generate(),
            event_id: EventId::generate(),
            event_type: "member.added".into(),
            event_created_at: chrono::Utc::now(),
            attempt: 1,
            sending: Arc::new(Sending {
                url: WebhookUrl::from_stored("https://example.com/hook").unwrap(),
                signature_scheme: crate::domain::SignatureScheme::HmacSha256,
                secret: SigningSecret::generate(),
                previous_secrets: Vec::new(),
                retry_schedule: None,
                headers: Vec::new(),
                client_identity: None,
                oauth2: None,
            }),
            body: Arc::from(&b"{}"[..]),
            trace: None,
            rate_limit_per_second: 0,
            lease: Lease {
                delivery: id,
                until: chrono::Utc::now(),
            },
            loaded_at: Instant::now(),
            ordering_key: None,
        }
    }

    #[test]
    fn handed_deliveries_count_as_kept_until_taken_in_or_lost_with_the_workers() {
        let (wakeup, mut inbox) = Wakeup::new(&config(), true);
        let kept = inbox.kept.clone();
        wakeup.hand_off(vec![claimed(), claimed()]);
        assert_eq!(kept.load(Ordering::Relaxed), 2);
        let handed = inbox.handed.try_recv().expect("sent");
        assert_eq!(handed.deliveries.len(), 2);
        drop(handed);
        assert_eq!(kept.load(Ordering::Relaxed), 0, "taken in");
        wakeup.hand_off(vec![claimed()]);
        drop(inbox);
        assert_eq!(kept.load(Ordering::Relaxed), 0, "dropped unread");
        wakeup.hand_off(vec![claimed()]);
        assert_eq!(kept.load(Ordering::Relaxed), 0, "never sent");
    }
}
