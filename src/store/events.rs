//! The transactional outbox: an event and its deliveries are written in one
//! transaction, so a committed event always has its deliveries.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::entities::{delivery, event, webhook};
use super::scoped::Scoped;
use super::{Store, StoreError};
use crate::domain::{DeliveryId, DeliveryStatus, EventId, NewEvent, WebhookId};

/// What publishing an event stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub event_id: EventId,
    /// Deliveries scheduled by this call: 0 for a repeated idempotency key.
    pub deliveries: u64,
    /// True when the idempotency key was seen before and nothing was stored.
    pub duplicate: bool,
}

impl Store {
    /// Stores the event and one pending delivery per webhook of its
    /// organization subscribed to its type, durably, in one transaction.
    pub async fn publish(&self, new: &NewEvent) -> Result<Published, StoreError> {
        if let Some(first) = self.event_by_idempotency_key(new).await? {
            return Ok(first);
        }
        let txn = self.write_transaction().await?;
        match publish_in(&txn, new).await {
            Ok(published) => {
                txn.commit().await?;
                Ok(published)
            }
            // Another call with the same key won the race.
            Err(StoreError::AlreadyExists) if new.idempotency_key.is_some() => {
                txn.rollback().await?;
                self.event_by_idempotency_key(new)
                    .await?
                    .ok_or(StoreError::AlreadyExists)
            }
            Err(err) => Err(err),
        }
    }

    async fn event_by_idempotency_key(
        &self,
        new: &NewEvent,
    ) -> Result<Option<Published>, StoreError> {
        let Some(key) = &new.idempotency_key else {
            return Ok(None);
        };
        let id: Option<uuid::Uuid> = event::Entity::find_in(new.event.organization_id)
            .select_only()
            .column(event::Column::Id)
            .filter(event::Column::IdempotencyKey.eq(key.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(id.map(|id| Published {
            event_id: EventId::from_uuid(id),
            deliveries: 0,
            duplicate: true,
        }))
    }
}

/// Writes the event and its deliveries inside `txn`.
pub(super) async fn publish_in(
    txn: &impl ConnectionTrait,
    new: &NewEvent,
) -> Result<Published, StoreError> {
    let event = &new.event;
    insert_event(txn, new).await?;

    let subscriptions: Vec<(uuid::Uuid, serde_json::Value)> =
        webhook::Entity::find_in(event.organization_id)
            .select_only()
            .columns([webhook::Column::Id, webhook::Column::Events])
            // A paused webhook gets no new deliveries.
            .filter(webhook::Column::Enabled.eq(true))
            .into_tuple()
            .all(txn)
            .await?;
    let name = event.event_type.as_str();
    let subscribed: Vec<WebhookId> = subscriptions
        .into_iter()
        .filter(|(_, events)| {
            events
                .as_array()
                .is_some_and(|list| list.iter().any(|e| e.as_str() == Some(name)))
        })
        .map(|(id, _)| WebhookId::from_uuid(id))
        .collect();
    let deliveries = schedule(txn, new, &subscribed).await?;
    Ok(Published {
        event_id: event.id,
        deliveries: deliveries.len() as u64,
        duplicate: false,
    })
}

/// Inserts the event and one pending delivery, due now, per webhook.
async fn insert_event_and_deliveries(
    txn: &impl ConnectionTrait,
    new: &NewEvent,
    webhooks: &[WebhookId],
) -> Result<Vec<DeliveryId>, StoreError> {
    insert_event(txn, new).await?;
    schedule(txn, new, webhooks).await
}

async fn insert_event(txn: &impl ConnectionTrait, new: &NewEvent) -> Result<(), StoreError> {
    let event = &new.event;
    let body = String::from_utf8(event.body()).expect("JSON is UTF-8");
    event::Entity::insert(event::ActiveModel {
        id: Set(event.id.as_uuid()),
        organization_id: Set(event.organization_id.as_uuid()),
        event_type: Set(event.event_type.as_str().to_owned()),
        body: Set(body),
        idempotency_key: Set(new.idempotency_key.clone()),
        created_at: Set(event.timestamp),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

async fn schedule(
    txn: &impl ConnectionTrait,
    new: &NewEvent,
    webhooks: &[WebhookId],
) -> Result<Vec<DeliveryId>, StoreError> {
    let now = Utc::now();
    let ids: Vec<DeliveryId> = webhooks.iter().map(|_| DeliveryId::generate()).collect();
    let rows = ids
        .iter()
        .zip(webhooks)
        .map(|(id, webhook)| delivery::ActiveModel {
            id: Set(id.as_uuid()),
            event_id: Set(new.event.id.as_uuid()),
            webhook_id: Set(webhook.as_uuid()),
            organization_id: Set(new.event.organization_id.as_uuid()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            lease_until: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
    if !ids.is_empty() {
        delivery::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(ids)
}

/// What SendTestEvent did.
pub enum TestDelivery {
    NoSuchWebhook,
    Disabled,
    Scheduled {
        event: EventId,
        delivery: DeliveryId,
    },
}

impl Store {
    /// Stores `ping` and one delivery of it to `webhook` only, whatever the
    /// webhook subscribed to.
    pub async fn send_test_event(
        &self,
        webhook: WebhookId,
        ping: &NewEvent,
    ) -> Result<TestDelivery, StoreError> {
        let organization = ping.event.organization_id;
        let txn = self.write_transaction().await?;
        let enabled: Option<bool> = webhook::Entity::find_in(organization)
            .select_only()
            .column(webhook::Column::Enabled)
            .filter(webhook::Column::Id.eq(webhook.as_uuid()))
            .into_tuple()
            .one(&txn)
            .await?;
        match enabled {
            None => Ok(TestDelivery::NoSuchWebhook),
            Some(false) => Ok(TestDelivery::Disabled),
            Some(true) => {
                let ids = insert_event_and_deliveries(&txn, ping, &[webhook]).await?;
                txn.commit().await?;
                Ok(TestDelivery::Scheduled {
                    event: ping.event.id,
                    delivery: ids[0],
                })
            }
        }
    }
}
