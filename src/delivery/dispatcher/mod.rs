//! The claim loop: lease due deliveries within the concurrency caps, send
//! each on its own task, and hand the results to a writer that records them
//! in batches.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::attempt::attempt;
use super::client::Client;
use super::recorder::{self, RECORD_QUEUE};
use super::scheduler::{self, Booked, Rates, Shares, Signal, Tenants, Windows};
use super::{DeliveryConfig, Inbox, Wakeup, stale};
use crate::domain::WebhookId;
use crate::metrics::Metrics;
use crate::store::{Admission, Admit, AttemptRecord, Claimed, Lease, Store};

mod claiming;
mod membership;
mod slots;
mod turns;

use slots::{Placed, Then};

/// Reads the count of [`Dispatcher::handoffs_in_transit`].
#[derive(Clone)]
pub struct HandoffsInTransit(Arc<AtomicUsize>);

impl HandoffsInTransit {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs the delivery workers of one process.
pub struct Dispatcher {
    inner: Arc<Inner>,
    handed: mpsc::UnboundedReceiver<Vec<Claimed>>,
}

#[derive(Default)]
struct Endpoint {
    running: usize,
    waiting: VecDeque<Claimed>,
}

/// Who holds the delivery slots.
struct Slots {
    /// Per webhook: requests in flight, and claimed deliveries waiting for
    /// one of its slots.
    endpoints: HashMap<WebhookId, Endpoint>,
    /// Per webhook: how many requests it may have in flight now, up to
    /// this process's share of the per-endpoint cap.
    windows: Windows,
    /// This process's share of the per-endpoint cap, among the processes
    /// on one PostgreSQL.
    shares: Shares,
    /// Per rate-limited webhook: when its next delivery may start (SQLite:
    /// the one process keeps the turns).
    rates: Rates,
    /// Rate-limited webhooks whose turns, kept in the database for every
    /// process (PostgreSQL), are booked beyond reach.
    booked: Booked,
    /// Per organization: slots held, and whether it waits for more.
    tenants: Tenants,
}

struct Inner {
    store: Store,
    /// This process among those delivering from one PostgreSQL.
    process: uuid::Uuid,
    client: Client,
    config: DeliveryConfig,
    wakeup: Wakeup,
    /// The regular delivery slots, `max_in_flight` of them.
    permits: Arc<Semaphore>,
    /// A few more, for organizations holding none when every regular one
    /// is taken.
    reserve: Arc<Semaphore>,
    slots: Mutex<Slots>,
    /// Set when the last claim may have left due work behind.
    backlog: AtomicBool,
    /// Places kept for deliveries admitted for hand-off, not yet taken in.
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
        let client = Client::new(
            config.timeout,
            config.ca_file.as_deref(),
            config.allow_private_targets,
            config.max_in_flight + scheduler::reserve(config.max_in_flight),
        )?;
        // On PostgreSQL, other processes may be delivering too: this one
        // takes nothing until its heartbeats say which share is its own.
        let process = uuid::Uuid::new_v4();
        let shares = if store.is_sqlite() {
            Shares::alone(config.max_per_endpoint)
        } else {
            Shares::joining(process, config.max_per_endpoint)
        };
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                process,
                client,
                permits: Arc::new(Semaphore::new(config.max_in_flight)),
                reserve: Arc::new(Semaphore::new(scheduler::reserve(config.max_in_flight))),
                config,
                wakeup,
                slots: Mutex::new(Slots {
                    endpoints: HashMap::new(),
                    windows: Windows::new(shares.share()),
                    shares,
                    rates: Rates::default(),
                    booked: Booked::default(),
                    tenants: Tenants::default(),
                }),
                backlog: AtomicBool::new(false),
                kept: inbox.kept,
                metrics,
            }),
            handed: inbox.handed,
        })
    }

    /// Tells publishing whether these workers can take a delivery to a
    /// webhook at once; if not, it waits in the store to be claimed.
    pub fn admit(&self) -> Admit {
        let inner = self.inner.clone();
        Arc::new(move |organization, webhook| {
            inner
                .can_take(organization, webhook)
                .then(|| Admission::keep(&inner.kept))
        })
    }

    /// How many deliveries were admitted for hand-off and not yet taken in
    /// by the workers (sent, or held for a slot): zero once every one a
    /// publish handed over is theirs. For tests that must know a handed
    /// delivery is held before they act, instead of sleeping and hoping.
    pub fn handoffs_in_transit(&self) -> HandoffsInTransit {
        HandoffsInTransit(self.inner.kept.clone())
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
        let mut cursor = None;
        // Armed once per claim, not per turn of the loop: a steady stream of
        // hand-offs must not keep postponing the poll.
        let poll = tokio::time::sleep(inner.config.poll_interval);
        tokio::pin!(poll);
        loop {
            if claim {
                inner
                    .claim_and_start(&mut tasks, &records, &mut inbox, &mut cursor)
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
    /// Starts, queues or gives back leased deliveries; true when some were
    /// given back.
    async fn start(
        self: &Arc<Self>,
        claimed: Vec<Claimed>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) -> bool {
        let release = self.place_all(claimed, tasks, records);
        self.release(&release).await;
        !release.is_empty()
    }

    /// Starts or queues leased deliveries; those that have no place are
    /// returned, to be given back.
    fn place_all(
        self: &Arc<Self>,
        claimed: Vec<Claimed>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) -> Vec<Lease> {
        let mut release = Vec::new();
        for claim in claimed {
            match self.place(claim) {
                Placed::Run(claim, permit) => {
                    let inner = self.clone();
                    let records = records.clone();
                    tasks.spawn(async move { inner.work(*claim, permit, records).await });
                }
                Placed::Waiting => {}
                Placed::Release(lease) => release.push(lease),
            }
        }
        release
    }

    /// Starts deliveries leased at publishing; those that cannot start are
    /// returned, to be given back.
    #[must_use]
    fn take_handed(
        self: &Arc<Self>,
        mut handed: Vec<Claimed>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) -> Vec<Lease> {
        // The kept places are given back once the deliveries hold slots.
        let kept: Vec<_> = handed
            .iter_mut()
            .filter_map(|c| c.admission.take())
            .collect();
        let unplaced = self.place_all(handed, tasks, records);
        drop(kept);
        unplaced
    }

    /// Gives leased deliveries back to the store, to be claimed again as soon
    /// as a slot frees, or at once (a stale one is claimed again fresh).
    async fn release(&self, leases: &[Lease]) {
        if leases.is_empty() {
            return;
        }
        self.backlog.store(true, Ordering::Relaxed);
        if let Err(err) = self.store.release(leases).await {
            tracing::warn!(error = ?err, "cannot release deliveries; they wait for their lease");
        }
        self.wakeup.wake();
    }

    /// True when `claim` must not be sent as it is: its webhook changed
    /// since it was read, or its lease is too close to its end.
    fn expired(&self, claim: &Claimed) -> bool {
        claim.loaded_at.elapsed() + self.config.timeout >= self.config.lease
            || self.wakeup.is_stale(claim)
    }

    /// Sends `claim`, then whatever waits for the same webhook, on one slot.
    async fn work(
        self: Arc<Self>,
        claim: Claimed,
        permit: OwnedSemaphorePermit,
        records: mpsc::Sender<AttemptRecord>,
    ) {
        let (webhook, organization) = (claim.webhook_id, claim.organization_id);
        let mut claim = claim;
        loop {
            let mut signal = if self.wait_turn(&claim).await {
                attempt(
                    &self.client,
                    &self.config.retry,
                    &self.metrics,
                    claim,
                    &records,
                )
                .await
            } else {
                // Its lease ran short while it waited: someone else's now.
                self.release(&[claim.lease]).await;
                Signal::Neutral
            };
            let next = loop {
                let then = self.next_for(webhook, organization, signal);
                // Said once: deliveries given back were not attempted.
                signal = Signal::Neutral;
                match then {
                    Then::Send(expired) if self.expired(&expired) => {
                        self.release(&[expired.lease]).await;
                    }
                    Then::Send(next) => break Some(*next),
                    Then::Yield(given_back) => {
                        self.release(&given_back).await;
                        break None;
                    }
                    Then::Done => break None,
                }
            };
            match next {
                Some(next) => claim = next,
                None => break,
            }
        }
        drop(permit);
        if self.backlog.load(Ordering::Relaxed) {
            self.wakeup.wake();
        }
    }
}
