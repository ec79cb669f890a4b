//! The transactional outbox: an event and its deliveries are written in one
//! transaction, so a committed event always has its deliveries.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set};

use super::claims::{Claimed, Delivering, lease_end};
use super::entities::{delivery, event, webhook};
use super::handoff::HandOff;
use super::places::{self, Place};
use super::routing::{Filtered, route};
use super::scoped::Scoped;
use super::sending::Opened;
use super::unit::Defer;
use super::{Store, StoreError, subscriptions};
use crate::domain::{
    DeliveryId, DeliveryStatus, EventId, EventType, NewEvent, OrganizationId, TraceContext,
    WebhookId,
};

/// Rows written per statement: 1,000 deliveries of 16 columns stay well
/// inside SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
pub(super) const CHUNK: usize = 1000;

/// What publishing an event stored.
#[derive(Debug)]
pub struct Published {
    pub event_id: EventId,
    pub event_type: EventType,
    /// Deliveries scheduled by this call: 0 for a repeated idempotency key.
    pub deliveries: u64,
    /// True when the idempotency key was seen before and nothing was stored.
    pub duplicate: bool,
    /// Subscribers whose filters left this event out.
    pub filtered: Filtered,
    /// The new deliveries, already leased to this process so its workers can
    /// send them at once, without claiming: those its [`HandOff`] took.
    pub handed_off: Vec<Claimed>,
}

impl Store {
    /// Stores the event and one pending delivery per webhook of its
    /// organization subscribed to its type, durably, in one transaction.
    /// Those `hand_off` takes are leased to this process's workers.
    pub async fn publish(
        &self,
        new: &NewEvent,
        hand_off: &mut HandOff,
    ) -> Result<Published, StoreError> {
        if let Some(first) = self.event_by_idempotency_key(new).await? {
            return Ok(first);
        }
        let txn = self.write_unit().await?;
        match self.publish_in(&txn, new, hand_off).await {
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
    /// then publish one by one to learn which. Those deliveries `hand_off`
    /// takes are leased to this process's workers.
    pub async fn publish_batch(
        &self,
        batch: &[NewEvent],
        hand_off: &mut HandOff,
    ) -> Result<Vec<Published>, StoreError> {
        let seen = self.already_published(batch).await?;
        let mut published: Vec<Option<Published>> = batch
            .iter()
            .map(|new| {
                let key = new.idempotency_key.as_ref()?;
                seen.get(&(new.event.organization_id, key.clone()))
                    .map(|id| duplicate(*id, new.event.event_type.clone()))
            })
            .collect();
        let fresh: Vec<&NewEvent> = published
            .iter()
            .zip(batch)
            .filter(|(slot, _)| slot.is_none())
            .map(|(_, new)| new)
            .collect();
        let txn = self.write_unit().await?;
        let mut stored = self.publish_all(&txn, &fresh, hand_off).await?.into_iter();
        txn.commit().await?;
        for slot in published.iter_mut().filter(|slot| slot.is_none()) {
            *slot = stored.next();
        }
        Ok(published.into_iter().flatten().collect())
    }

    async fn event_by_idempotency_key(
        &self,
        new: &NewEvent,
    ) -> Result<Option<Published>, StoreError> {
        let seen = self.already_published(std::slice::from_ref(new)).await?;
        Ok(seen
            .into_values()
            .next()
            .map(|id| duplicate(id, new.event.event_type.clone())))
    }

    /// The events already stored under the idempotency keys of `batch`, by
    /// organization and key: one query per organization, not one per event.
    async fn already_published(
        &self,
        batch: &[NewEvent],
    ) -> Result<HashMap<(OrganizationId, String), EventId>, StoreError> {
        let mut keys: HashMap<OrganizationId, Vec<String>> = HashMap::new();
        for new in batch {
            if let Some(key) = &new.idempotency_key {
                let organization = new.event.organization_id;
                keys.entry(organization).or_default().push(key.clone());
            }
        }
        let mut seen = HashMap::new();
        for (organization, keys) in keys {
            let rows: Vec<(uuid::Uuid, Option<String>)> = event::Entity::find_in(organization)
                .select_only()
                .columns([event::Column::Id, event::Column::IdempotencyKey])
                .filter(event::Column::IdempotencyKey.is_in(keys))
                .into_tuple()
                .all(&self.db)
                .await?;
            for (id, key) in rows {
                if let Some(key) = key {
                    seen.insert((organization, key), EventId::from_uuid(id));
                }
            }
        }
        Ok(seen)
    }
}

/// The answer for an event whose idempotency key was used before.
fn duplicate(first: EventId, event_type: EventType) -> Published {
    Published {
        event_id: first,
        event_type,
        deliveries: 0,
        duplicate: true,
        filtered: Filtered::default(),
        handed_off: Vec::new(),
    }
}

impl Store {
    /// Writes the event and its deliveries inside `txn`.
    pub(super) async fn publish_in(
        &self,
        txn: &impl Defer,
        new: &NewEvent,
        hand_off: &mut HandOff,
    ) -> Result<Published, StoreError> {
        let mut published = self.publish_all(txn, &[new], hand_off).await?;
        Ok(published.pop().expect("one event, one answer"))
    }

    /// Writes the events and their deliveries inside `txn`, a statement for
    /// all the events and one for all the deliveries (per [`CHUNK`] rows),
    /// and reads the subscribers once per organization and event type: a
    /// group of publishes costs a few statements, not a few per event.
    pub(super) async fn publish_all(
        &self,
        txn: &impl Defer,
        news: &[&NewEvent],
        hand_off: &mut HandOff,
    ) -> Result<Vec<Published>, StoreError> {
        let bodies = bodies(news);
        // Locked until commit: DeleteWebhook, a pause or a URL change waits
        // for this transaction, then sees (and cancels or keeps waiting) the
        // deliveries it wrote, instead of leaving them to a webhook that is
        // gone. A webhook deleted meanwhile is not found here.
        let mut subscribers: HashMap<(OrganizationId, &str), Vec<webhook::Model>> = HashMap::new();
        for new in news {
            let event = &new.event;
            let key = (event.organization_id, event.event_type.as_str());
            if let std::collections::hash_map::Entry::Vacant(entry) = subscribers.entry(key) {
                let found =
                    subscriptions::subscribers(txn, event.organization_id, &event.event_type)
                        .await?;
                entry.insert(found);
            }
        }
        let mut scheduled = Vec::with_capacity(news.len());
        let mut filtered = Vec::with_capacity(news.len());
        for (new, body) in news.iter().zip(bodies) {
            let event = &new.event;
            let key = (event.organization_id, event.event_type.as_str());
            let (webhooks, left_out) = route(&self.filters, event, &subscribers[&key]);
            scheduled.push(Scheduling {
                new,
                body,
                webhooks,
                ordered: true,
            });
            filtered.push(left_out);
        }
        // Once routed: each event is stored with its count of deliveries,
        // before them.
        insert_events(txn, &scheduled).await?;
        let outcomes = self.schedule(txn, &scheduled, hand_off).await?;
        Ok(news
            .iter()
            .zip(outcomes)
            .zip(filtered)
            .map(|((new, (ids, handed_off)), filtered)| Published {
                event_id: new.event.id,
                event_type: new.event.event_type.clone(),
                deliveries: ids.len() as u64,
                duplicate: false,
                filtered,
                handed_off,
            })
            .collect())
    }

    /// Inserts one delivery of each event, due now, per webhook it goes to,
    /// and answers, per event, the deliveries' ids. Those `hand_off` takes
    /// (this process's workers can start them now) are leased to it and
    /// returned ready to send.
    pub(super) async fn schedule(
        &self,
        txn: &impl Defer,
        events: &[Scheduling<'_>],
        hand_off: &mut HandOff,
    ) -> Result<Vec<(Vec<DeliveryId>, Vec<Claimed>)>, StoreError> {
        // To the millisecond, the one each delivery's id carries: a range
        // of `created_at` is then a range of ids (`CreatedRange`).
        let now = whole_millisecond(Utc::now());
        let mut places = places::places(txn, events, now).await?;
        let lease_until = lease_end(now, hand_off.lease());
        // Per event, per webhook: the delivery's id, its place in its
        // sequence, and its lease when this process's workers can start it
        // at once. Only a head may be handed off: a delivery behind one
        // waits for it.
        let planned: Vec<Vec<Planned>> = events
            .iter()
            .map(|e| {
                e.webhooks
                    .iter()
                    .map(|w| {
                        let place = places.next_of(e, w);
                        let behind = place.as_ref().is_some_and(|p| p.behind);
                        let taken = !behind
                            && hand_off.take(
                                OrganizationId::from_uuid(w.organization_id),
                                WebhookId::from_uuid(w.id),
                            );
                        (DeliveryId::generate_at(now), place, taken)
                    })
                    .collect()
            })
            .collect();
        let mut rows: Vec<delivery::ActiveModel> = events
            .iter()
            .zip(&planned)
            .flat_map(|(e, deliveries)| {
                e.webhooks
                    .iter()
                    .zip(deliveries)
                    .map(|(webhook, (id, place, taken))| delivery::ActiveModel {
                        id: Set(id.as_uuid()),
                        event_id: Set(e.new.event.id.as_uuid()),
                        webhook_id: Set(webhook.id),
                        organization_id: Set(e.new.event.organization_id.as_uuid()),
                        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                        attempts: Set(0),
                        next_attempt_at: Set(now),
                        lease_until: Set(taken.then_some(lease_until)),
                        last_error: Set(None),
                        created_at: Set(now),
                        updated_at: Set(now),
                        event_type: Set(e.new.event.event_type.as_str().to_owned()),
                        // Only webhooks that are not paused get deliveries.
                        paused: Set(false),
                        ordering_key: Set(place.as_ref().map(|p| p.key.clone())),
                        sequence: Set(place.as_ref().map(|p| p.sequence)),
                        behind: Set(place.as_ref().is_some_and(|p| p.behind)),
                    })
            })
            .collect();
        // In chunks: one statement for thousands of subscribers would pass
        // the databases' limits on bind parameters.
        while !rows.is_empty() {
            let chunk = rows.split_off(rows.len().saturating_sub(CHUNK));
            // Held back: on SQLite it goes with the COMMIT.
            txn.defer(&delivery::Entity::insert_many(chunk).into_query())
                .await?;
        }
        let mut outcomes = Vec::with_capacity(events.len());
        let mut opened = Opened::new();
        for (e, deliveries) in events.iter().zip(planned) {
            let mut ids = Vec::with_capacity(deliveries.len());
            let mut handed_off = Vec::new();
            for (webhook, (id, place, taken)) in e.webhooks.iter().zip(deliveries) {
                ids.push(id);
                if !taken {
                    continue;
                }
                let delivery = Delivering {
                    id,
                    event_id: e.new.event.id,
                    event_type: e.new.event.event_type.as_str(),
                    event_created_at: e.new.event.timestamp,
                    attempt: 1,
                    body: &e.body,
                    trace: e.new.trace.as_ref(),
                    lease_until,
                    ordering_key: place.map(|p| p.key),
                };
                // A secret that cannot be opened leaves its delivery leased
                // until the lease runs out, as a claim would.
                if let Some(claim) = self.claim_of(&mut opened, webhook, delivery, now)? {
                    handed_off.push(claim);
                }
            }
            outcomes.push((ids, handed_off));
        }
        Ok(outcomes)
    }
}

/// A delivery about to be inserted: its id, its place in its sequence (if
/// it joins one), and whether it is leased to this process's workers.
type Planned = (DeliveryId, Option<Place>, bool);

/// One event to schedule: its body and the webhooks it goes to.
pub(super) struct Scheduling<'a> {
    pub new: &'a NewEvent,
    pub body: Arc<[u8]>,
    pub webhooks: Vec<&'a webhook::Model>,
    /// Whether its deliveries to ordered webhooks join their sequences:
    /// false for test events, which are never ordered.
    pub ordered: bool,
}

/// Each event's body, the exact bytes its deliveries send.
pub(super) fn bodies(news: &[&NewEvent]) -> Vec<Arc<[u8]>> {
    news.iter().map(|new| Arc::from(new.event.body())).collect()
}

/// Stores the events, one statement per [`CHUNK`] of them, each with the
/// number of deliveries it is about to get (its webhooks): event retention
/// keeps an event while any is left (migration 24).
pub(super) async fn insert_events(
    txn: &impl Defer,
    events: &[Scheduling<'_>],
) -> Result<(), StoreError> {
    let mut rows: Vec<event::ActiveModel> = events
        .iter()
        .map(|e| {
            let (new, event) = (e.new, &e.new.event);
            event::ActiveModel {
                id: Set(event.id.as_uuid()),
                organization_id: Set(event.organization_id.as_uuid()),
                event_type: Set(event.event_type.as_str().to_owned()),
                body: Set(std::str::from_utf8(&e.body)
                    .expect("JSON is UTF-8")
                    .to_owned()),
                idempotency_key: Set(new.idempotency_key.clone()),
                created_at: Set(event.timestamp),
                trace_context: Set(new.trace.as_ref().map(TraceContext::to_stored)),
                deliveries_left: Set(Some(i32::try_from(e.webhooks.len()).unwrap_or(i32::MAX))),
            }
        })
        .collect();
    while !rows.is_empty() {
        let chunk = rows.split_off(rows.len().saturating_sub(CHUNK));
        // Held back: on SQLite it goes with the next statement sent.
        txn.defer(&event::Entity::insert_many(chunk).into_query())
            .await?;
    }
    Ok(())
}

/// `at` without its fraction of a millisecond.
fn whole_millisecond(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}
