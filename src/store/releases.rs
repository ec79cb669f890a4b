//! Giving leases back: the deliveries a process leased and will not send
//! now (its workers are full, it is stopping), and at start-up on SQLite the
//! leases a crashed run left.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::claims::Lease;
use super::entities::delivery;
use super::unit::{Durability, Unit};
use super::{Store, StoreError};

impl Store {
    /// Gives leased deliveries back, due as they were. A lease that ran out
    /// and was taken by another claimer meanwhile is theirs: it stays.
    pub async fn release(&self, leases: &[Lease]) -> Result<(), StoreError> {
        if leases.is_empty() {
            return Ok(());
        }
        let mut by_end: HashMap<DateTime<Utc>, Vec<Uuid>> = HashMap::new();
        for lease in leases {
            by_end
                .entry(lease.until)
                .or_default()
                .push(lease.delivery.as_uuid());
        }
        let ours = by_end
            .into_iter()
            .fold(Condition::any(), |any, (until, ids)| {
                any.add(
                    Condition::all()
                        .add(delivery::Column::LeaseUntil.eq(until))
                        .add(delivery::Column::Id.is_in(ids)),
                )
            });
        let txn = self.relaxed_transaction().await?;
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::LeaseUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(ours)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Releases every lease. Only for SQLite at start-up, where this process
    /// is the only claimer, so leases left are a crashed run's.
    pub async fn release_all_leases(&self) -> Result<u64, StoreError> {
        let result = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::LeaseUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(delivery::Column::LeaseUntil.is_not_null())
            .filter(Expr::cust("status = 'pending'"))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// A transaction whose commit need not wait for the disk: losing it in a
    /// crash only causes a resend, which at-least-once delivery allows. On
    /// PostgreSQL its connection has `synchronous_commit = off` already.
    pub(super) async fn relaxed_transaction(&self) -> Result<DatabaseTransaction, StoreError> {
        Ok(self.begin_writing(&self.relaxed).await?)
    }

    /// A relaxed transaction that sends its statements together where it
    /// can (see `unit`). On SQLite, where the one connection commits to
    /// the disk, it is a unit on that connection whose commit writes the
    /// log without syncing it (`Durability::Relaxed`): a crash of the
    /// process keeps it, a crash of the machine may not.
    pub(super) async fn relaxed_unit(&self) -> Result<Unit, StoreError> {
        let begin = self.begin_writing(&self.relaxed);
        Ok(Unit::begin(&self.relaxed, &self.statements, begin, Durability::Relaxed).await?)
    }
}
