//! The delivery engine: workers claim due deliveries from the outbox, sign
//! and POST them, and record each attempt; failures are retried on a schedule.

mod client;
mod dispatcher;
mod recorder;
pub mod retention;
pub mod retry;
pub mod signature;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::store::Claimed;

pub use client::Client;
pub use dispatcher::Dispatcher;
pub use retry::RetryPolicy;

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
}

/// Wakes the workers when new deliveries are committed, or hands them the
/// deliveries themselves, so nothing waits for the next poll.
#[derive(Clone)]
pub struct Wakeup {
    notify: Arc<Notify>,
    handed: mpsc::UnboundedSender<Vec<Claimed>>,
    /// Deliveries handed over and not yet taken in by the workers.
    queued: Arc<AtomicUsize>,
}

/// The workers' end of [`Wakeup`].
pub struct Inbox {
    handed: mpsc::UnboundedReceiver<Vec<Claimed>>,
    queued: Arc<AtomicUsize>,
}

impl Wakeup {
    pub fn new() -> (Self, Inbox) {
        let (handed, inbox) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let wakeup = Self {
            notify: Arc::new(Notify::new()),
            handed,
            queued: queued.clone(),
        };
        let inbox = Inbox {
            handed: inbox,
            queued,
        };
        (wakeup, inbox)
    }

    /// Due deliveries may be waiting in the store.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// These deliveries are leased to this process: send them.
    pub fn hand_off(&self, deliveries: Vec<Claimed>) {
        self.queued.fetch_add(deliveries.len(), Ordering::Relaxed);
        if self.handed.send(deliveries).is_err() {
            // The workers stopped; the leases run out and someone claims them.
            tracing::debug!("workers stopped; handed-off deliveries wait for their lease");
        }
    }

    async fn woken(&self) {
        self.notify.notified().await
    }
}
