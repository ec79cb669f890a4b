//! The internal event bus, and publishing for other services.

use super::ServiceError;
use crate::delivery::Wakeup;
use crate::domain::access::authorize;
use crate::domain::{Action, Caller, NewEvent, OrganizationId};
use tokio::sync::{mpsc, oneshot};

use crate::store::{Published, Store};

/// The most events that share one commit.
const GROUP_COMMIT: usize = 128;

type Waiting = (NewEvent, oneshot::Sender<Result<Published, ServiceError>>);

/// Publishes events: stores each with its deliveries in one transaction, then
/// wakes the delivery workers. Events published at the same moment share a
/// transaction, so a burst costs one durable commit, not one each.
#[derive(Clone)]
pub struct Publisher {
    store: Store,
    wakeup: Wakeup,
    queue: mpsc::Sender<Waiting>,
}

impl Publisher {
    /// Starts the committing task; call inside a Tokio runtime.
    pub fn new(store: Store, wakeup: Wakeup) -> Self {
        let (queue, waiting) = mpsc::channel(GROUP_COMMIT * 4);
        tokio::spawn(commit_in_groups(store.clone(), waiting));
        Self {
            store,
            wakeup,
            queue,
        }
    }

    /// Publishes `event` to every webhook of its organization subscribed to
    /// its type. Once this returns, the event is durable.
    pub async fn publish(&self, event: NewEvent) -> Result<Published, ServiceError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((event, answer))
            .await
            .map_err(|_| ServiceError::Unavailable(anyhow::anyhow!("the publisher stopped")))?;
        let published = answered.await.map_err(|_| {
            ServiceError::Internal(anyhow::anyhow!("the publisher dropped an event"))
        })??;
        let mut published = published;
        self.announce(&mut published);
        Ok(published)
    }

    /// Gives the workers what a committed transaction scheduled.
    pub fn announce(&self, published: &mut Published) {
        let handed_off = std::mem::take(&mut published.handed_off);
        if !handed_off.is_empty() {
            self.hand_off(handed_off);
        } else if published.deliveries > 0 {
            self.wake();
        }
    }

    /// Passes deliveries leased at publishing straight to the workers.
    pub fn hand_off(&self, deliveries: Vec<crate::store::Claimed>) {
        self.wakeup.hand_off(deliveries);
    }

    /// Wakes the workers: deliveries may have become due.
    pub fn wake(&self) {
        self.wakeup.wake();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Takes whatever is queued (at least one event, at most a group), commits it
/// in one transaction, and answers each caller. A failed group is retried
/// event by event, so one bad event cannot fail the others.
async fn commit_in_groups(store: Store, mut waiting: mpsc::Receiver<Waiting>) {
    let mut group = Vec::with_capacity(GROUP_COMMIT);
    while waiting.recv_many(&mut group, GROUP_COMMIT).await > 0 {
        let (events, answers): (Vec<NewEvent>, Vec<_>) = group.drain(..).unzip();
        match store.publish_batch(&events).await {
            Ok(published) => {
                for (answer, published) in answers.into_iter().zip(published) {
                    let _ = answer.send(Ok(published));
                }
            }
            Err(_) if events.len() > 1 => {
                for (event, answer) in events.into_iter().zip(answers) {
                    let _ = answer.send(store.publish(&event).await.map_err(Into::into));
                }
            }
            Err(err) => {
                // A group of one: its caller gets the error itself.
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(err.into()));
                }
            }
        }
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
