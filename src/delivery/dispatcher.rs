//! The claim loop: lease due deliveries within the concurrency caps, send
//! each on its own task, and hand the results to a writer that records them
//! in batches.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::attempt::attempt;
use super::client::Client;
use super::recorder::{self, RECORD_QUEUE, RecorderStats};
use super::{DeliveryConfig, Inbox, Wakeup, stale};
use crate::domain::WebhookId;
use crate::store::{Admit, AttemptRecord, Claimed, Lease, Store};

/// The most deliveries claimed in one round trip.
const CLAIM_BATCH: usize = 128;

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

struct Inner {
    store: Store,
    client: Client,
    config: DeliveryConfig,
    wakeup: Wakeup,
    permits: Arc<Semaphore>,
    /// Per webhook: requests in flight, and claimed deliveries waiting for
    /// one of its slots.
    endpoints: Mutex<HashMap<WebhookId, Endpoint>>,
    /// Set when the last claim may have left due work behind.
    backlog: AtomicBool,
    /// Handed-off deliveries not yet taken in.
    queued: Arc<AtomicUsize>,
    stats: Arc<RecorderStats>,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        config: DeliveryConfig,
        wakeup: Wakeup,
        inbox: Inbox,
    ) -> anyhow::Result<Self> {
        let client = Client::new(
            config.timeout,
            config.ca_file.as_deref(),
            config.allow_private_targets,
            config.max_per_endpoint,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                client,
                permits: Arc::new(Semaphore::new(config.max_in_flight)),
                config,
                wakeup,
                endpoints: Mutex::new(HashMap::new()),
                backlog: AtomicBool::new(false),
                queued: inbox.queued,
                stats: Arc::default(),
            }),
            handed: inbox.handed,
        })
    }

    /// Tells publishing whether these workers can take a delivery to a
    /// webhook at once; if not, it waits in the store to be claimed.
    pub fn admit(&self) -> Admit {
        let inner = self.inner.clone();
        Arc::new(move |webhook| inner.can_take(webhook))
    }

    /// What the result writer could not do.
    pub fn stats(&self) -> Arc<RecorderStats> {
        self.inner.stats.clone()
    }

    /// Delivers until `shutdown` completes, then lets in-flight attempts
    /// finish and records them, for at most the shutdown grace.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let (inner, mut inbox) = (self.inner, self.handed);
        if inner.store.is_sqlite() {
            match inner.store.release_all_leases().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "resuming deliveries a previous run left"),
                Err(err) => tracing::error!(error = ?err, "cannot release old leases"),
            }
        }
        let (records, written) = mpsc::channel(RECORD_QUEUE);
        let mut writer = tokio::spawn(recorder::write_records(
            inner.store.clone(),
            written,
            inner.wakeup.clone(),
            inner.stats.clone(),
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
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        let mut claim = true;
        loop {
            if claim {
                inner.claim_and_start(&mut tasks, &records).await;
            }
            while tasks.try_join_next().is_some() {}
            claim = tokio::select! {
                _ = inner.wakeup.woken() => true,
                // Deliveries leased at publishing: no claim needed.
                Some(handed) = inbox.recv() => {
                    let count = handed.len();
                    inner.start(handed, &mut tasks, &records).await;
                    inner.queued.fetch_sub(count, Ordering::Relaxed);
                    false
                }
                _ = tokio::time::sleep(inner.config.poll_interval) => true,
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
        let _ = watcher.await;
    }
}

impl Inner {
    /// Claims and starts deliveries while there is room and work.
    async fn claim_and_start(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) {
        loop {
            let room = self.permits.available_permits().min(CLAIM_BATCH);
            if room == 0 {
                self.backlog.store(true, Ordering::Relaxed);
                return;
            }
            let skip = self.saturated_endpoints();
            let claimed = match self
                .store
                .claim_due(room as u64, self.config.lease, &skip)
                .await
            {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::error!(error = ?err, "cannot claim deliveries");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    return;
                }
            };
            let full = claimed.len() == room;
            self.backlog
                .store(full || !skip.is_empty(), Ordering::Relaxed);
            self.start(claimed, tasks, records).await;
            if !full {
                return;
            }
        }
    }

    /// Starts, queues or gives back leased deliveries.
    async fn start(
        self: &Arc<Self>,
        claimed: Vec<Claimed>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::Sender<AttemptRecord>,
    ) {
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
        if !release.is_empty() {
            // Given back: claim them again as soon as a slot frees.
            self.backlog.store(true, Ordering::Relaxed);
        }
        if let Err(err) = self.store.release(&release).await {
            tracing::warn!(error = ?err, "cannot release deliveries; they wait for their lease");
        }
    }

    fn can_take(&self, webhook: WebhookId) -> bool {
        if self.queued.load(Ordering::Relaxed) >= self.config.max_in_flight
            || self.permits.available_permits() == 0
        {
            return false;
        }
        let cap = self.config.max_per_endpoint;
        let endpoints = self.endpoints.lock().expect("lock");
        endpoints
            .get(&webhook)
            .is_none_or(|e| e.running < cap || e.waiting.len() < cap)
    }

    /// Webhooks whose every slot is taken: not worth claiming for.
    fn saturated_endpoints(&self) -> Vec<WebhookId> {
        let endpoints = self.endpoints.lock().expect("lock");
        endpoints
            .iter()
            .filter(|(_, e)| e.running >= self.config.max_per_endpoint)
            .map(|(id, _)| *id)
            .collect()
    }

    /// True when `claim` must not be sent as it is: its webhook changed
    /// since it was read, or its lease is too close to its end.
    fn expired(&self, claim: &Claimed) -> bool {
        claim.loaded_at.elapsed() + self.config.timeout >= self.config.lease
            || self.wakeup.is_stale(claim)
    }

    /// Runs a claimed delivery now if its webhook has a free slot, else lets
    /// it wait for one (at most a slot's worth per webhook, so the wait stays
    /// well inside the lease), else gives it back.
    fn place(&self, claim: Claimed) -> Placed {
        if self.expired(&claim) {
            return Placed::Release(claim.lease);
        }
        let cap = self.config.max_per_endpoint;
        let mut endpoints = self.endpoints.lock().expect("lock");
        let endpoint = endpoints.entry(claim.webhook_id).or_default();
        if endpoint.running < cap {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                endpoint.running += 1;
                return Placed::Run(Box::new(claim), permit);
            }
        } else if endpoint.waiting.len() < cap {
            endpoint.waiting.push_back(claim);
            return Placed::Waiting;
        }
        if endpoint.running == 0 && endpoint.waiting.is_empty() {
            endpoints.remove(&claim.webhook_id);
        }
        Placed::Release(claim.lease)
    }

    /// The next delivery waiting for `webhook`'s slot, or frees the slot.
    fn next_for(&self, webhook: WebhookId) -> Option<Claimed> {
        let mut endpoints = self.endpoints.lock().expect("lock");
        let endpoint = endpoints.get_mut(&webhook)?;
        if let Some(next) = endpoint.waiting.pop_front() {
            return Some(next);
        }
        endpoint.running -= 1;
        if endpoint.running == 0 {
            endpoints.remove(&webhook);
        }
        None
    }

    /// Sends `claim`, then whatever waits for the same webhook, on one slot.
    async fn work(
        self: Arc<Self>,
        claim: Claimed,
        permit: OwnedSemaphorePermit,
        records: mpsc::Sender<AttemptRecord>,
    ) {
        let webhook = claim.webhook_id;
        let mut claim = claim;
        loop {
            attempt(&self.client, &self.config.retry, claim, &records).await;
            let next = loop {
                match self.next_for(webhook) {
                    None => break None,
                    Some(expired) if self.expired(&expired) => {
                        self.backlog.store(true, Ordering::Relaxed);
                        if let Err(err) = self.store.release(&[expired.lease]).await {
                            tracing::warn!(error = ?err, "cannot release a delivery; it waits for its lease");
                        }
                    }
                    Some(next) => break Some(next),
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

/// Where a claimed delivery goes.
enum Placed {
    Run(Box<Claimed>, OwnedSemaphorePermit),
    Waiting,
    Release(Lease),
}
