//! The claim loop: lease due deliveries within the concurrency caps, send
//! each on its own task, and hand the results to a writer that records them
//! in batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::{Instrument, field::Empty};

use super::client::{Client, Outcome, Report, Request};
use super::{DeliveryConfig, Wakeup};
use crate::domain::WebhookId;
use crate::store::{AttemptRecord, Claimed, Next, Store};

/// The most deliveries claimed in one round trip.
const CLAIM_BATCH: usize = 256;
/// The most attempts recorded in one transaction.
const RECORD_BATCH: usize = 512;

/// Runs the delivery workers of one process.
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    client: Client,
    config: DeliveryConfig,
    wakeup: Wakeup,
    permits: Arc<Semaphore>,
    /// In-flight requests per webhook.
    busy: Mutex<HashMap<WebhookId, usize>>,
    /// Set when the last claim may have left due work behind.
    backlog: AtomicBool,
}

impl Dispatcher {
    pub fn new(store: Store, config: DeliveryConfig, wakeup: Wakeup) -> anyhow::Result<Self> {
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
                busy: Mutex::new(HashMap::new()),
                backlog: AtomicBool::new(false),
            }),
        })
    }

    /// Delivers until `shutdown` completes, then lets in-flight attempts
    /// finish and records them.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let inner = self.inner;
        if inner.store.is_sqlite() {
            match inner.store.release_all_leases().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "resuming deliveries a previous run left"),
                Err(err) => tracing::error!(error = ?err, "cannot release old leases"),
            }
        }
        let (records, written) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_records(
            inner.store.clone(),
            written,
            inner.wakeup.clone(),
        ));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            inner.claim_and_start(&mut tasks, &records).await;
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                _ = inner.wakeup.woken() => {}
                _ = tokio::time::sleep(inner.config.poll_interval) => {}
                _ = &mut shutdown => break,
            }
        }
        tracing::info!(in_flight = tasks.len(), "delivery workers stopping");
        while tasks.join_next().await.is_some() {}
        drop(records);
        let _ = writer.await;
    }
}

impl Inner {
    /// Claims and starts deliveries while there is room and work.
    async fn claim_and_start(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        records: &mpsc::UnboundedSender<AttemptRecord>,
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
            let mut release = Vec::new();
            for claim in claimed {
                match self.reserve(claim.webhook_id) {
                    Some(permit) => {
                        let inner = self.clone();
                        let records = records.clone();
                        tasks.spawn(async move { inner.attempt(claim, permit, records).await });
                    }
                    None => release.push(claim.id),
                }
            }
            if let Err(err) = self.store.release(&release).await {
                tracing::warn!(error = ?err, "cannot release deliveries; they wait for their lease");
            }
            if !full {
                return;
            }
        }
    }

    fn saturated_endpoints(&self) -> Vec<WebhookId> {
        let busy = self.busy.lock().expect("lock");
        busy.iter()
            .filter(|(_, n)| **n >= self.config.max_per_endpoint)
            .map(|(id, _)| *id)
            .collect()
    }

    /// A slot for one request to `webhook`, within both caps.
    fn reserve(&self, webhook: WebhookId) -> Option<OwnedSemaphorePermit> {
        let mut busy = self.busy.lock().expect("lock");
        let count = busy.entry(webhook).or_insert(0);
        if *count >= self.config.max_per_endpoint {
            return None;
        }
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        *count += 1;
        Some(permit)
    }

    fn free(&self, webhook: WebhookId) {
        let mut busy = self.busy.lock().expect("lock");
        if let Some(count) = busy.get_mut(&webhook) {
            *count -= 1;
            if *count == 0 {
                busy.remove(&webhook);
            }
        }
    }

    async fn attempt(
        self: Arc<Self>,
        claim: Claimed,
        permit: OwnedSemaphorePermit,
        records: mpsc::UnboundedSender<AttemptRecord>,
    ) {
        let span = tracing::info_span!(
            "delivery",
            webhook_id = %claim.webhook_id,
            event_id = %claim.event_id,
            delivery_id = %claim.id,
            attempt = claim.attempt,
            status = Empty,
            duration_ms = Empty,
        );
        let report = self
            .client
            .send(Request {
                url: claim.url.as_url(),
                event_id: claim.event_id,
                event_type: &claim.event_type,
                attempt: claim.attempt,
                body: &claim.body,
                secret: &claim.secret,
                previous_secret: claim.previous_secret.as_ref(),
            })
            .instrument(span.clone())
            .await;
        let record = self.record(&claim, report);
        span.record("duration_ms", record.duration.as_millis() as u64);
        match (&record.next, record.status_code, &record.error_kind) {
            (Next::Succeeded, Some(code), _) => {
                span.record("status", code);
                tracing::debug!(parent: &span, "delivered");
            }
            (next, code, kind) => {
                if let Some(code) = code {
                    span.record("status", code);
                }
                tracing::info!(parent: &span, error_kind = ?kind, next = ?next, "attempt failed");
            }
        }
        // The writer outlives every attempt task.
        let _ = records.send(record);
        self.free(claim.webhook_id);
        drop(permit);
        if self.backlog.load(Ordering::Relaxed) {
            self.wakeup.wake();
        }
    }

    fn record(&self, claim: &Claimed, report: Report) -> AttemptRecord {
        let succeeded = report.succeeded();
        let (status_code, error_kind, error_message, excerpt, retry_after) = match report.outcome {
            Outcome::Answered {
                status,
                excerpt,
                retry_after,
            } => {
                let kind = (!succeeded).then_some("http_status");
                // Retry-After only means "later" on these two.
                let retry_after = retry_after.filter(|_| status == 429 || status == 503);
                (Some(status), kind, None, Some(excerpt), retry_after)
            }
            Outcome::Failed { kind, message } => (None, Some(kind), Some(message), None, None),
        };
        let next = if succeeded {
            Next::Succeeded
        } else {
            match self.config.retry.next_delay(claim.attempt, retry_after) {
                Some(delay) => Next::RetryAt(
                    Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
                ),
                None => Next::Failed,
            }
        };
        AttemptRecord {
            delivery_id: claim.id,
            attempt: claim.attempt,
            started_at: report.started_at,
            duration: report.duration,
            status_code,
            error_kind,
            error_message,
            response_excerpt: excerpt,
            next,
        }
    }
}

/// Records attempts in batches. A failed write is retried, never dropped:
/// if it never succeeds, the leases run out and the deliveries are sent again.
async fn write_records(
    store: Store,
    mut written: mpsc::UnboundedReceiver<AttemptRecord>,
    wakeup: Wakeup,
) {
    while let Some(first) = written.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match written.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let mut pause = Duration::from_millis(100);
        while let Err(err) = store.record_attempts(&batch).await {
            tracing::error!(error = ?err, attempts = batch.len(), "cannot record attempts; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        // Wake the claim loop when each retry comes due, not at the next poll.
        for record in &batch {
            if let Next::RetryAt(at) = record.next {
                let wait = (at - Utc::now()).to_std().unwrap_or_default();
                let wakeup = wakeup.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    wakeup.wake();
                });
            }
        }
    }
}
