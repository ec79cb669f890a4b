//! The internal event bus, and publishing for other services.

use tracing::Instrument;

use super::ServiceError;
use super::catalogue::Catalogue;
use super::group_commit::{GroupCommit, Grouped};
use crate::delivery::Wakeup;
use crate::domain::access::authorize_early;
use crate::domain::catalogue::check_published;
use crate::domain::event_type::unknown_types;
use crate::domain::labels::Labels;
use crate::domain::validation::quoted;
use crate::domain::{Action, Caller, NewEvent, OrganizationId, Violations, WebhookId};
use crate::metrics::Metrics;
use crate::store::{Published, Store, StoreError};
use crate::telemetry::{self, traces};

/// Publishes events: stores each with its deliveries in one transaction, then
/// wakes the delivery workers. Events published at the same moment share a
/// transaction, so a burst costs one durable commit, not one each.
#[derive(Clone)]
pub struct Publisher {
    store: Store,
    wakeup: Wakeup,
    metrics: Metrics,
    outbox: GroupCommit<Outbox>,
}

impl Publisher {
    /// Starts the committing task; call inside a Tokio runtime.
    pub fn new(store: Store, wakeup: Wakeup, metrics: Metrics) -> Self {
        let outbox = Outbox {
            store: store.clone(),
            wakeup: wakeup.clone(),
            metrics: metrics.clone(),
        };
        Self {
            store,
            wakeup,
            metrics,
            outbox: GroupCommit::start(outbox, "publisher"),
        }
    }

    /// Publishes `event` to every webhook of its organization subscribed to
    /// its type. Once this returns, the event is durable and its deliveries
    /// are with the workers, whether or not the caller still waits. With
    /// traces on, the event keeps the caller's trace context (its
    /// deliveries continue it) and the wait for the commit is a span.
    pub async fn publish(&self, mut event: NewEvent) -> Result<Published, ServiceError> {
        if !traces::enabled() {
            return self.outbox.submit(event).await;
        }
        let ids = telemetry::context::current_ids();
        if event.trace.is_none() {
            event.trace = ids.as_ref().map(telemetry::context::of);
        }
        // An unsampled trace has no span to be a child of.
        if !ids.is_some_and(|ids| ids.is_sampled()) {
            return self.outbox.submit(event).await;
        }
        let database = if self.store.is_sqlite() {
            "sqlite"
        } else {
            "postgresql"
        };
        let span = tracing::info_span!(
            "outbox commit",
            otel.kind = "internal",
            db.system.name = database,
            db.operation.name = "INSERT",
        );
        self.outbox.submit(event).instrument(span).await
    }

    /// Gives the workers what a committed transaction scheduled, and
    /// counts the event.
    pub fn announce(&self, published: &mut Published) {
        announce(&self.wakeup, &self.metrics, published);
    }

    /// A change of this webhook was committed: deliveries the workers hold
    /// for it must be read again before they are sent.
    pub fn webhook_changed(&self, webhook: WebhookId) {
        self.wakeup.webhook_changed(webhook);
    }

    /// Wakes the workers: deliveries may have become due.
    pub fn wake(&self) {
        self.wakeup.wake();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// Counts a committed event, hands the workers the deliveries leased to
/// them, and wakes them for those left in the store, so that none waits
/// for the next poll.
fn announce(wakeup: &Wakeup, metrics: &Metrics, published: &mut Published) {
    if !published.duplicate {
        metrics.event_published(&published.event_type);
        let filtered = published.filtered;
        metrics.events_filtered(filtered.no_match, filtered.error);
    }
    let handed_off = std::mem::take(&mut published.handed_off);
    let left = published.deliveries > handed_off.len() as u64;
    if !handed_off.is_empty() {
        wakeup.hand_off(handed_off);
    }
    if left {
        wakeup.wake();
    }
}

/// Events with their deliveries, stored in groups.
struct Outbox {
    store: Store,
    wakeup: Wakeup,
    metrics: Metrics,
}

impl Grouped for Outbox {
    type Item = NewEvent;
    type Done = Published;

    async fn all(&self, events: &[NewEvent]) -> Result<Vec<Published>, StoreError> {
        let mut organizations: Vec<OrganizationId> =
            events.iter().map(|e| e.event.organization_id).collect();
        organizations.sort_unstable();
        organizations.dedup();
        // Asked before the transaction, so that it calls nothing up while
        // open. This one task publishes; the only other quota is the
        // recorder's, for promoted heads of ordered sequences. Should both
        // promise the same free place, the workers hold or give back what
        // they cannot start (it is claimed again), as with any hand-off.
        let mut hand_off = self.wakeup.hand_off_quota(&organizations);
        let published = self.store.publish_batch(events, &mut hand_off).await?;
        self.wakeup.left_waiting(hand_off.waiting());
        Ok(published)
    }

    async fn one(&self, event: &NewEvent) -> Result<Published, StoreError> {
        let mut hand_off = self.wakeup.hand_off_quota(&[event.event.organization_id]);
        let published = self.store.publish(event, &mut hand_off).await?;
        self.wakeup.left_waiting(hand_off.waiting());
        Ok(published)
    }

    fn committed(&self, published: &mut Published) {
        announce(&self.wakeup, &self.metrics, published);
    }
}

/// A request from another service to publish an event, not yet validated.
#[derive(Debug, Clone)]
pub struct PublishEvent {
    pub organization_id: String,
    pub event_type: String,
    /// A JSON object.
    pub data: serde_json::Value,
    /// Empty for none.
    pub idempotency_key: String,
    pub labels: Labels,
    /// The sequence of ordered webhooks' deliveries it joins; empty for
    /// their default one.
    pub ordering_key: String,
}

/// The PublishEvent use case.
#[derive(Clone)]
pub struct Events {
    publisher: Publisher,
    catalogue: Catalogue,
}

impl Events {
    pub fn new(publisher: Publisher, catalogue: Catalogue) -> Self {
        Self {
            publisher,
            catalogue,
        }
    }

    pub async fn publish(
        &self,
        caller: &Caller,
        request: PublishEvent,
    ) -> Result<Published, ServiceError> {
        // Authorize before looking at the rest, so a caller without rights
        // learns nothing from validation.
        let organization = OrganizationId::parse(&request.organization_id).ok();
        authorize_early(caller, Action::PublishEvent, organization)?;
        let event = NewEvent::parse(
            &request.organization_id,
            &request.event_type,
            request.data,
            request.idempotency_key,
            request.labels,
            request.ordering_key,
        )?;
        self.check_with_catalogue(&event).await?;
        let (organization, event_type) =
            (event.event.organization_id, event.event.event_type.clone());
        let published = self.publisher.publish(event).await?;
        tracing::info!(
            event_id = %published.event_id,
            %organization,
            event_type = event_type.as_str(),
            deliveries = published.deliveries,
            duplicate = published.duplicate,
            publisher = %caller.subject,
            "event published"
        );
        Ok(published)
    }

    /// The type must be in the catalogue and not archived, and `data`
    /// must meet its schema, if it has one.
    async fn check_with_catalogue(&self, event: &NewEvent) -> Result<(), ServiceError> {
        let name = &event.event.event_type;
        let refused = |reason: String| {
            let mut violations = Violations::default();
            violations.add("type", reason);
            ServiceError::InvalidArgument(violations)
        };
        let entry = match self.catalogue.entry(name).await? {
            None => return Err(refused(unknown_types(&[name.as_str()]))),
            Some(entry) if entry.def.archived => {
                return Err(refused(format!(
                    "event type {} is archived: it can no longer be published",
                    quoted(name.as_str())
                )));
            }
            Some(entry) => entry,
        };
        if let Some(schema) = &entry.schema {
            check_published(schema, &event.event.data)?;
        }
        Ok(())
    }
}
