//! The claim loop: lease due deliveries within the concurrency caps, send
//! each on its own task, and hand the results to a writer that records them
//! in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::client::Client;
use super::egress::Relay;
use super::recorder::{self, RECORD_QUEUE};
use super::scheduler::{self, Activity, Decision};
use super::shared::{Guard, Shared};
use super::{DeliveryConfig, Handed, Inbox, Kept, Wakeup, stale};
use crate::metrics::Metrics;
use crate::store::{AttemptRecord, Claimed, Lease, Store};

mod claiming;
mod membership;
mod slot;

/// Reads the count of [`Dispatcher::handoffs_in_transit`].
#[derive(Clone)]
pub struct HandoffsInTransit(Arc<AtomicUsize>);

impl HandoffsInTransit {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs the delivery workers of one process: the I/O of the scheduler's
/// decisions (claims, attempts, turns, giving leases back).
pub struct Dispatcher {
    inner: Arc<Inner>,
    handed: mpsc::UnboundedReceiver<Handed>,
}

struct Inner {
    store: Store,
    /// This process among those delivering from one PostgreSQL.
    process: uuid::Uuid,
    client: Client,
    config: DeliveryConfig,
    wakeup: Wakeup,
    /// Every slot decision, behind one lock.
    scheduler: Arc<Shared>,
    /// Places kept for deliveries handed off, not yet taken in.
    kept: Arc<AtomicUsize>,
    metrics: Metrics,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        config: DeliveryConfig,
        wakeup: Wakeup,
        inbox: Inbox,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        // Every request in flight may be to one host (webhooks of many
        // organizations behind one gateway, say): all of their connections
        // may stay open for the next ones.
        let relay = match &config.egress_proxy {
            Some(proxy) => Some(Relay::start(
                proxy.clone(),
                config.allow_private_targets,
                config.timeout,
            )?),
            None => None,
        };
        let client = Client::new(
            config.timeout,
            config.ca_file.as_deref(),
            config.allow_private_targets,
            config.max_in_flight + scheduler::reserve(config.max_in_flight),
            metrics.clone(),
            relay,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                process: inbox.process,
                client,
                config,
                wakeup,
                scheduler: inbox.scheduler,
                kept: inbox.kept,
                metrics,
            }),
            handed: inbox.handed,
        })
    }

    /// How many deliveries were handed off and not yet taken in
    /// by the workers (sent, or held for a slot): zero once every one a
    /// publish handed over is theirs. For tests that must know a handed
    /// delivery is held before they act, instead of sleeping and hoping.
    pub fn handoffs_in_transit(&self) -> HandoffsInTransit {
        HandoffsInTransit(self.inner.kept.clone())
    }

    /// Follows what the workers hold and do (see [`Activity`]), so that a
    /// test can wait until they looked and found nothing to send rather
    /// than sleeping and hoping.
    pub fn activity(&self) -> watch::Receiver<Activity> {
        self.inner.scheduler.watch()
    }

    /// On SQLite (one process), takes back the deliveries a previous run
    /// left leased, so that they are claimed again at once rather than when
    /// their leases run out. Before anything is served: a delivery published
    /// meanwhile is leased to this run's workers and must keep its lease, or
    /// it would be claimed and sent twice.
    pub async fn resume_left_work(&self) {
        if !self.inner.store.is_sqlite() {
            return;
        }
        match self.inner.store.release_all_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "resuming deliveries a previous run left"),
            Err(err) => tracing::error!(error = ?err, "cannot release old leases"),
        }
    }

    /// Delivers until `shutdown` completes, then lets in-flight attempts
    /// finish and records them, for at most the shutdown grace.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let (inner, mut inbox) = (self.inner, self.handed);
        let (records, written) = mpsc::channel(RECORD_QUEUE);
        let mut writer = tokio::spawn(recorder::write_records(
            recorder::Records {
                store: inner.store.clone(),
                disable_after: inner.config.disable_after,
                wakeup: inner.wakeup.clone(),
            },
            written,
            inner.wakeup.clone(),
            inner.metrics.clone(),
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(stale::watch(
            inner.store.clone(),
            inner.wakeup.clone(),
            async move {
                let mut stopped = stopped;
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        // Kept until the attempts in flight are over: the others must not
        // take up this process's share while they run.
        let (leave, leaving) = tokio::sync::watch::channel(false);
        let membership = (!inner.store.is_sqlite()).then(|| {
            tokio::spawn(inner.clone().keep_membership(async move {
                let mut leaving = leaving;
                let _ = leaving.wait_for(|l| *l).await;
            }))
        });
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        let mut claim = true;
        // Armed once per claim, not per turn of the loop: a steady stream of
        // hand-offs must not keep postponing the poll.
        let poll = tokio::time::sleep(inner.config.poll_interval);
        tokio::pin!(poll);
        loop {
            if claim {
                inner
                    .claim_and_start(&mut tasks, &records, &mut inbox)
                    .await;
                poll.as_mut()
                    .reset(tokio::time::Instant::now() + inner.config.poll_interval);
            }
            while tasks.try_join_next().is_some() {}
            claim = tokio::select! {
                _ = inner.wakeup.woken() => true,
                // Deliveries leased at publishing: no claim needed.
                Some(handed) = inbox.recv() => {
                    let unplaced = inner.take_handed(handed, &mut tasks, &records);
                    inner.release(&unplaced).await;
                    false
                }
                () = &mut poll => true,
                _ = &mut shutdown => break,
            };
        }
        let _ = stop.send(true);
        tracing::info!(in_flight = tasks.len(), "delivery workers stopping");
        let drained = tokio::time::timeout(inner.config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
            drop(records);
            let _ = (&mut writer).await;
        })
        .await;
        if drained.is_err() {
            // A hung endpoint or a database that is away: their leases run
            // out and another run sends them again.
            tracing::warn!(
                in_flight = tasks.len(),
                "shutdown grace over; abandoning unfinished attempts and unwritten results"
            );
            tasks.abort_all();
            writer.abort();
        }
        let _ = leave.send(true);
        if let Some(membership) = membership {
            let _ = membership.await;
        }
        let _ = watcher.await;
    }
}

impl Inner {
    fn scheduler(&self) -> Guard<'_> {
        self.scheduler.lock()
    }

    /// Runs the scheduler's decisions on new slots: each `Send`, `Hold` or
    /// `TakeTurn` starts a slot task; what is given back is returned, to be
    /// released.
    fn run_new_slots(
        self: &Arc<Self>,
        decisions: Vec<Decision<Claimed>>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) -> Vec<Lease> {
        let mut given_back = Vec::new();
        for decision in decisions {
            match decision {
                Decision::GiveBack(lease) => given_back.push(lease),
                Decision::Look => self.wakeup.wake(),
                step => {
                    let inner = self.clone();
                    let records = records.clone();
                    tasks.spawn(async move { inner.run_slot(step, records).await });
                }
            }
        }
        given_back
    }

    /// Offers leased deliveries to the scheduler and starts what it says;
    /// those that have no place are returned, to be given back. `kept`:
    /// their places kept at publishing, let go once they are placed.
    fn place_all(
        self: &Arc<Self>,
        claimed: Vec<Claimed>,
        kept: Option<Kept>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) -> Vec<Lease> {
        let mut decisions = Vec::new();
        {
            let mut scheduler = self.scheduler();
            let now = Instant::now();
            for claim in claimed {
                scheduler.offer(claim, now, &mut decisions);
            }
            // Let go under the lock: no published activity shows them
            // neither kept nor placed (idle too early).
            drop(kept);
        }
        self.run_new_slots(decisions, tasks, records)
    }

    /// Starts deliveries leased at publishing; those that cannot start are
    /// returned, to be given back.
    #[must_use]
    fn take_handed(
        self: &Arc<Self>,
        handed: Handed,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) -> Vec<Lease> {
        let Handed { deliveries, kept } = handed;
        // The kept places are given back once the deliveries hold slots.
        self.place_all(deliveries, Some(kept), tasks, records)
    }

    /// Gives leased deliveries back to the store, to be claimed again as soon
    /// as a slot frees, or at once (a stale one is claimed again fresh).
    async fn release(&self, leases: &[Lease]) {
        if leases.is_empty() {
            return;
        }
        if let Err(err) = self.store.release(leases).await {
            tracing::warn!(error = ?err, "cannot release deliveries; they wait for their lease");
        }
        self.scheduler().returned(leases.len());
        self.wakeup.wake();
    }
}
