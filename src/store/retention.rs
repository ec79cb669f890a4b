//! Forgets old delivery history, a small batch at a time, so deleting never
//! holds up delivery.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DeleteMany, EntityTrait, QueryFilter, QuerySelect,
    Select, UpdateMany,
};
use uuid::Uuid;

use super::entities::{delivery, delivery_attempt, event};
use super::{Store, StoreError};
use crate::domain::created_range::first_id_of;

impl Store {
    /// Deletes up to `batch` finished deliveries (succeeded, failed,
    /// cancelled) last changed before `cutoff`, with their attempts. Returns
    /// how many went.
    pub async fn purge_deliveries(
        &self,
        cutoff: DateTime<Utc>,
        batch: u64,
    ) -> Result<u64, StoreError> {
        let txn = self.write_transaction().await?;
        let old = finished_before(self.db.get_database_backend(), cutoff, batch);
        let rows: Vec<(Uuid, Uuid)> = old.into_tuple().all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        attempts_of(ids.clone()).exec(&txn).await?;
        let deleted = delivery::Entity::delete_many()
            .filter(delivery::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
        // Chosen and locked above, so exactly these went: their events
        // count them off.
        counted_off(rows.into_iter().map(|(_, event)| event))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected)
    }

    /// Deletes up to `batch` ordered sequences' rows unused since `cutoff`
    /// and with no pending delivery. Returns how many went.
    pub async fn purge_sequences(
        &self,
        cutoff: DateTime<Utc>,
        batch: u64,
    ) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let deleted = self
            .db
            .execute_raw(super::sequences::idle_before(backend, cutoff, batch))
            .await?;
        Ok(deleted.rows_affected())
    }

    /// Deletes up to `batch` events published before `cutoff` that have no
    /// delivery left. Returns how many went.
    pub async fn purge_events(&self, cutoff: DateTime<Utc>, batch: u64) -> Result<u64, StoreError> {
        let ids: Vec<Uuid> = unsent_before(cutoff, batch)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = event::Entity::delete_many()
            .filter(event::Column::Id.is_in(ids))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected)
    }
}

/// The ids [`Store::purge_deliveries`] deletes: up to `batch` finished
/// deliveries last changed before `cutoff`. Chosen and locked (on
/// PostgreSQL) in the transaction that deletes them: a delivery retried
/// meanwhile is pending again and keeps its attempts.
pub(super) fn finished_before(
    backend: DbBackend,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> Select<delivery::Entity> {
    let old = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .column(delivery::Column::EventId)
        .filter(Expr::cust("status <> 'pending'"))
        .filter(delivery::Column::UpdatedAt.lt(cutoff))
        .limit(batch);
    if backend == DbBackend::Postgres {
        old.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        old
    }
}

/// The deletion of the attempts of deliveries `ids`, which
/// [`Store::purge_deliveries`] deletes with them.
pub(super) fn attempts_of(ids: Vec<Uuid>) -> DeleteMany<delivery_attempt::Entity> {
    delivery_attempt::Entity::delete_many().filter(delivery_attempt::Column::DeliveryId.is_in(ids))
}

/// The events of the deleted deliveries (one per delivery) count them
/// off, in one statement: two purges in two processes that lowered the
/// same events in several statements could each wait for the other.
pub(super) fn counted_off(events: impl Iterator<Item = Uuid>) -> UpdateMany<event::Entity> {
    let mut gone: BTreeMap<Uuid, i32> = BTreeMap::new();
    for event in events {
        *gone.entry(event).or_default() += 1;
    }
    let mut by_event = gone.iter();
    let first = by_event.next().map_or(
        // Never empty in the purge; a statement that changes nothing.
        Expr::case(Expr::value(false), 0),
        |(event, n)| Expr::case(Expr::col(event::Column::Id).eq(*event), *n),
    );
    let each = by_event
        .fold(first, |case, (event, n)| {
            case.case(Expr::col(event::Column::Id).eq(*event), *n)
        })
        .finally(0);
    event::Entity::update_many()
        .col_expr(
            event::Column::DeliveriesLeft,
            Expr::col(event::Column::DeliveriesLeft).sub(each),
        )
        .filter(event::Column::Id.is_in(gone.into_keys()))
}

/// The ids [`Store::purge_events`] deletes: up to `batch` events published
/// before `cutoff` that have no delivery left (by their count: migration
/// 24; one not counted is kept). An event's id is a UUIDv7 of its
/// creation: the primary key's range below `cutoff`'s millisecond holds
/// them (no index by `created_at`, written for every event, to read).
pub(super) fn unsent_before(cutoff: DateTime<Utc>, batch: u64) -> Select<event::Entity> {
    let below = first_id_of(cutoff.timestamp_millis());
    event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::Id.lt(below))
        .filter(event::Column::CreatedAt.lt(cutoff))
        .filter(Expr::cust("deliveries_left <= 0"))
        .limit(batch)
}
