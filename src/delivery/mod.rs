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
mod recorder;
pub mod retention;
pub mod retry;
mod scheduler;
mod shared;
pub mod signature;
mod stale;
pub mod sweeper;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use crate::domain::WebhookId;
use crate::store::{Change, Claimed};

pub use client::Client;
pub use dispatcher::{Dispatcher, HandoffsInTransit};
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
    handed: mpsc::UnboundedSender<Vec<Claimed>>,
    /// The workers' decisions; told which webhooks changed, so that
    /// deliveries read before are not sent.
    scheduler: Arc<Shared>,
}

/// The workers' end of [`Wakeup`].
pub struct Inbox {
    handed: mpsc::UnboundedReceiver<Vec<Claimed>>,
    /// Places kept for deliveries admitted for hand-off and not yet taken
    /// in (see [`crate::store::Admission`]).
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

    /// These deliveries are leased to this process: send them.
    pub fn hand_off(&self, deliveries: Vec<Claimed>) {
        if self.handed.send(deliveries).is_err() {
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
