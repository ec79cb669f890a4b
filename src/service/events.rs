//! The internal event bus, and publishing for other services.

use super::ServiceError;
use crate::delivery::Wakeup;
use crate::domain::access::authorize;
use crate::domain::{Action, Caller, NewEvent, OrganizationId};
use crate::store::{Published, Store};

/// Publishes events: stores each with its deliveries in one transaction, then
/// wakes the delivery workers.
#[derive(Clone)]
pub struct Publisher {
    store: Store,
    wakeup: Wakeup,
}

impl Publisher {
    pub fn new(store: Store, wakeup: Wakeup) -> Self {
        Self { store, wakeup }
    }

    /// Publishes `event` to every webhook of its organization subscribed to
    /// its type. Once this returns, the event is durable.
    pub async fn publish(&self, event: NewEvent) -> Result<Published, ServiceError> {
        let published = self.store.publish(&event).await?;
        self.announce(&published);
        Ok(published)
    }

    /// Wakes the workers for deliveries committed by someone else's transaction.
    pub fn announce(&self, published: &Published) {
        if published.deliveries > 0 {
            self.wake();
        }
    }

    /// Wakes the workers: deliveries may have become due.
    pub fn wake(&self) {
        self.wakeup.wake();
    }

    pub fn store(&self) -> &Store {
        &self.store
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
}

/// The PublishEvent use case.
#[derive(Clone)]
pub struct Events {
    publisher: Publisher,
}

impl Events {
    pub fn new(publisher: Publisher) -> Self {
        Self { publisher }
    }

    pub async fn publish(
        &self,
        caller: &Caller,
        request: PublishEvent,
    ) -> Result<Published, ServiceError> {
        // Authorize before looking at the rest, so a caller without rights
        // learns nothing from validation.
        if let Ok(organization) = OrganizationId::parse(&request.organization_id) {
            authorize(caller, Action::PublishEvent, organization)?;
        }
        let event = NewEvent::parse(
            &request.organization_id,
            &request.event_type,
            request.data,
            request.idempotency_key,
        )?;
        let (organization, event_type) = (event.event.organization_id, event.event.event_type);
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
}
