//! The transactional outbox: an event and its deliveries are written in one
//! transaction, so a committed event always has its deliveries.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::claims::{Admission, Claimed, Delivering, lease_end};
use super::entities::{delivery, event, webhook};
use super::scoped::Scoped;
use super::{Store, StoreError, subscriptions};
use crate::domain::{DeliveryId, DeliveryStatus, EventId, NewEvent, OrganizationId, WebhookId};

/// Rows written per statement: 1,000 deliveries of 11 columns stay well
/// inside SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
pub(super) const CHUNK: usize = 1000;

/// What publishing an event stored.
#[derive(Debug)]
pub struct Published {
    pub event_id: EventId,
    /// Deliveries scheduled by this call: 0 for a repeated idempotency key.
    pub deliveries: u64,
    /// True when the idempotency key was seen before and nothing was stored.
    pub duplicate: bool,
    /// The new deliveries, already leased to this process so its workers can
    /// send them at once, without claiming (empty when hand-off is off).
    pub handed_off: Vec<Claimed>,
}

impl Store {
    /// Stores the event and one pending delivery per webhook of its
    /// organization subscribed to its type, durably, in one transaction.
    pub async fn publish(&self, new: &NewEvent) -> Result<Published, StoreError> {
        if let Some(first) = self.event_by_idempotency_key(new).await? {
            return Ok(first);
        }
        let txn = self.write_transaction().await?;
        match self.publish_in(&txn, new).await {
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

    /// Publishes several events in one transaction, so they share one
    /// durable commit (group commit). Any failure fails them all; callers
    /// then publish one by one to learn which.
    pub async fn publish_batch(&self, batch: &[NewEvent]) -> Result<Vec<Published>, StoreError> {
        let mut published: Vec<Option<Published>> = batch.iter().map(|_| None).collect();
        for (slot, new) in published.iter_mut().zip(batch) {
            *slot = self.event_by_idempotency_key(new).await?;
        }
        let txn = self.write_transaction().await?;
        for (slot, new) in published.iter_mut().zip(batch) {
            if slot.is_none() {
                *slot = Some(self.publish_in(&txn, new).await?);
            }
        }
        txn.commit().await?;
        Ok(published.into_iter().flatten().collect())
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
            handed_off: Vec::new(),
        }))
    }
}

impl Store {
    /// Writes the event and its deliveries inside `txn`.
    pub(super) async fn publish_in(
        &self,
        txn: &impl ConnectionTrait,
        new: &NewEvent,
    ) -> Result<Published, StoreError> {
        let event = &new.event;
        let body = insert_event(txn, new).await?;
        // Locked until commit: DeleteWebhook, a pause or a URL change waits
        // for this transaction, then sees (and cancels or keeps waiting) the
        // deliveries it wrote, instead of leaving them to a webhook that is
        // gone. A webhook deleted meanwhile is not found here.
        let subscribed =
            subscriptions::subscribers(txn, event.organization_id, event.event_type).await?;
        let (ids, handed_off) = self.schedule(txn, new, &body, &subscribed).await?;
        Ok(Published {
            event_id: event.id,
            deliveries: ids.len() as u64,
            duplicate: false,
            handed_off,
        })
    }

    /// Inserts one delivery of `new`, due now, per webhook. With hand-off on,
    /// those this process's workers can take now are leased to it and
    /// returned ready to send.
    async fn schedule(
        &self,
        txn: &impl ConnectionTrait,
        new: &NewEvent,
        body: &Arc<[u8]>,
        webhooks: &[webhook::Model],
    ) -> Result<(Vec<DeliveryId>, Vec<Claimed>), StoreError> {
        let now = Utc::now();
        let ids: Vec<DeliveryId> = webhooks.iter().map(|_| DeliveryId::generate()).collect();
        if ids.is_empty() {
            return Ok((ids, Vec::new()));
        }
        // Leased to this process only where its workers can start at once.
        let mut admissions: Vec<Option<Admission>> = webhooks
            .iter()
            .map(|w| {
                self.handoff.as_ref().and_then(|h| {
                    (h.admit)(
                        OrganizationId::from_uuid(w.organization_id),
                        WebhookId::from_uuid(w.id),
                    )
                })
            })
            .collect();
        let leases: Vec<Option<DateTime<Utc>>> = admissions
            .iter()
            .map(|admitted| {
                let handoff = admitted.as_ref().and(self.handoff.as_ref());
                handoff.map(|h| lease_end(now, h.lease))
            })
            .collect();
        let rows = ids
            .iter()
            .zip(webhooks)
            .zip(&leases)
            .map(|((id, webhook), lease_until)| delivery::ActiveModel {
                id: Set(id.as_uuid()),
                event_id: Set(new.event.id.as_uuid()),
                webhook_id: Set(webhook.id),
                organization_id: Set(new.event.organization_id.as_uuid()),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                lease_until: Set(*lease_until),
                last_error: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
        // In chunks: one statement for thousands of subscribers would pass
        // the databases' limits on bind parameters.
        let mut rows: Vec<_> = rows.collect();
        while !rows.is_empty() {
            let chunk = rows.split_off(rows.len().saturating_sub(CHUNK));
            delivery::Entity::insert_many(chunk)
                .exec_without_returning(txn)
                .await?;
        }
        let mut handed_off = Vec::new();
        for (((id, webhook), lease), admission) in
            ids.iter().zip(webhooks).zip(&leases).zip(&mut admissions)
        {
            if let Some(lease_until) = *lease {
                let delivery = Delivering {
                    id: *id,
                    event_id: new.event.id,
                    event_type: new.event.event_type.as_str(),
                    attempt: 1,
                    body,
                    lease_until,
                };
                // A secret that cannot be opened leaves its delivery leased
                // until the lease runs out, as a claim would.
                if let Some(mut claim) = self.claim_of(webhook, delivery, now)? {
                    claim.admission = admission.take();
                    handed_off.push(claim);
                }
            }
        }
        Ok((ids, handed_off))
    }

    /// Stores `ping` and one delivery of it to `webhook` only, whatever the
    /// webhook subscribed to.
    pub async fn send_test_event(
        &self,
        webhook: WebhookId,
        ping: &NewEvent,
    ) -> Result<TestDelivery, StoreError> {
        let organization = ping.event.organization_id;
        let txn = self.write_transaction().await?;
        // Locked, as in publishing, so a concurrent delete cannot orphan it.
        let found = webhook::Entity::find_in(organization)
            .filter(webhook::Column::Id.eq(webhook.as_uuid()))
            .lock_shared()
            .one(&txn)
            .await?;
        match found {
            None => Ok(TestDelivery::NoSuchWebhook),
            Some(w) if !w.enabled => Ok(TestDelivery::Disabled),
            Some(w) => {
                let body = insert_event(&txn, ping).await?;
                let (ids, handed_off) = self.schedule(&txn, ping, &body, &[w]).await?;
                txn.commit().await?;
                Ok(TestDelivery::Scheduled {
                    published: Published {
                        event_id: ping.event.id,
                        deliveries: 1,
                        duplicate: false,
                        handed_off,
                    },
                    delivery: ids[0],
                })
            }
        }
    }
}

/// What SendTestEvent did.
pub enum TestDelivery {
    NoSuchWebhook,
    Disabled,
    /// The ping is stored with its one delivery.
    Scheduled {
        published: Published,
        delivery: DeliveryId,
    },
}

/// Stores the event; returns the body every delivery sends.
async fn insert_event(txn: &impl ConnectionTrait, new: &NewEvent) -> Result<Arc<[u8]>, StoreError> {
    let event = &new.event;
    let body = event.body();
    event::Entity::insert(event::ActiveModel {
        id: Set(event.id.as_uuid()),
        organization_id: Set(event.organization_id.as_uuid()),
        event_type: Set(event.event_type.as_str().to_owned()),
        body: Set(String::from_utf8(body.clone()).expect("JSON is UTF-8")),
        idempotency_key: Set(new.idempotency_key.clone()),
        created_at: Set(event.timestamp),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(body.into())
}
