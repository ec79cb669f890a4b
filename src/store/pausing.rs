//! A paused webhook's pending deliveries wait out of the claim path: they
//! are marked `paused`, a resume clears the mark, and the partial indexes
//! that the claims and the backlog gauge read (`claims::CLAIMABLE`) leave
//! marked ones out. So a paused backlog costs nothing while it waits,
//! however large; callers still see those deliveries pending, and the
//! status filter PENDING finds them.
//!
//! Marking is bounded: the transaction that pauses or resumes a webhook
//! brings at most [`PAUSE_BATCH`] of its deliveries in line, and when more
//! may remain it leaves a row in `webhook_sweeps`; the sweeper
//! ([`Store::sweep_paused`], run by `delivery::sweeper`) does the rest a
//! batch per short transaction, from the webhook's `enabled` as it is then
//! (so a pause quickly followed by a resume ends unmarked). A transaction
//! never holds the database for more than a batch, whatever the backlog.
//! Meanwhile a claim that leases a paused webhook's delivery not yet
//! marked marks it instead of sending it ([`held_back`]).
//!
//! Everything else that makes a delivery pending says whether it is
//! paused: RetryDelivery as its webhook is; publishing, SendTestEvent and
//! RecoverWebhook never (they only schedule for a webhook that is not
//! paused). An attempt in flight when its delivery is marked keeps the
//! mark: retried later, it waits for the resume like the others; ended,
//! the mark means nothing.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set,
};
use uuid::Uuid;

use super::entities::{delivery, webhook, webhook_sweep};
use super::scoped::Scoped;
use super::{Store, StoreError};
use crate::domain::{OrganizationId, WebhookId};

/// The most deliveries one transaction of a pause, a resume or the sweeper
/// looks at, and so marks or unmarks: a bounded hold on the database.
pub const PAUSE_BATCH: u64 = 1_000;

/// What one step of the sweeper did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// No webhook waits for its deliveries to be marked or unmarked (none
    /// this process may take now, on PostgreSQL).
    Idle,
    /// A batch of this webhook's deliveries is in line with it (or it is
    /// gone, and so is its sweep); others may wait.
    Swept(WebhookId),
    /// This webhook's row is being changed now (a pause, a resume, an
    /// update): its sweep waits for the next step.
    Busy(WebhookId),
}

impl Store {
    /// Wakes the sweeper of this process: a pause or a resume left work.
    pub(super) fn sweep_soon(&self) {
        self.sweeps.notify_one();
    }

    /// Returns once a pause or a resume in this process has left work for
    /// the sweeper (at once when one did since the last call).
    pub async fn sweep_wanted(&self) {
        self.sweeps.notified().await;
    }

    /// Brings the next batch of one webhook's deliveries in line with the
    /// webhook: the first webhook waiting after `last` in id order (round
    /// robin, so one large backlog does not hold up another webhook's
    /// sweep), or the first one. One short transaction.
    pub async fn sweep_paused(&self, last: Option<WebhookId>) -> Result<Sweep, StoreError> {
        // A read first: an idle sweeper never takes SQLite's write lock.
        if webhook_sweep::Entity::find()
            .select_only()
            .column(webhook_sweep::Column::WebhookId)
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?
            .is_none()
        {
            return Ok(Sweep::Idle);
        }
        let backend = self.db.get_database_backend();
        // Losing a batch in a crash only means doing it again.
        let txn = self.relaxed_transaction().await?;
        let mut sweep = waiting(backend, last).one(&txn).await?;
        if sweep.is_none() && last.is_some() {
            sweep = waiting(backend, None).one(&txn).await?;
        }
        let Some(sweep) = sweep else {
            txn.commit().await?;
            return Ok(Sweep::Idle);
        };
        let organization = OrganizationId::from_uuid(sweep.organization_id);
        let id = WebhookId::from_uuid(sweep.webhook_id);
        // Held until commit: a pause or a resume waits, then starts over
        // from its own state. Never waited for while holding the sweep's
        // row, which a pause or a resume writes after the webhook's.
        let mut current = webhook::Entity::find_in(organization)
            .select_only()
            .column(webhook::Column::Enabled)
            .filter(webhook::Column::Id.eq(id.as_uuid()));
        if backend == DbBackend::Postgres {
            current = current.lock_with_behavior(LockType::Share, LockBehavior::SkipLocked);
        }
        let Some(enabled) = current.into_tuple::<bool>().one(&txn).await? else {
            let exists = webhook::Entity::find_in(organization)
                .select_only()
                .column(webhook::Column::Id)
                .filter(webhook::Column::Id.eq(id.as_uuid()))
                .into_tuple::<Uuid>()
                .one(&txn)
                .await?;
            if exists.is_some() {
                txn.rollback().await?;
                return Ok(Sweep::Busy(id));
            }
            // Deleted: its deliveries were cancelled with it.
            webhook_sweep::Entity::delete_by_id(id.as_uuid())
                .exec(&txn)
                .await?;
            txn.commit().await?;
            return Ok(Sweep::Swept(id));
        };
        match align(&txn, id, enabled, sweep.after).await? {
            Some(after) => {
                webhook_sweep::Entity::update_many()
                    .col_expr(webhook_sweep::Column::After, Expr::value(Some(after)))
                    .filter(webhook_sweep::Column::WebhookId.eq(id.as_uuid()))
                    .exec(&txn)
                    .await?;
            }
            None => {
                webhook_sweep::Entity::delete_by_id(id.as_uuid())
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(Sweep::Swept(id))
    }
}

/// The first sweep waiting after `last` in webhook id order; on PostgreSQL
/// locked, skipping those another process's sweeper holds.
fn waiting(backend: DbBackend, last: Option<WebhookId>) -> Select<webhook_sweep::Entity> {
    let mut query = webhook_sweep::Entity::find();
    if let Some(last) = last {
        query = query.filter(webhook_sweep::Column::WebhookId.gt(last.as_uuid()));
    }
    query = query
        .order_by_asc(webhook_sweep::Column::WebhookId)
        .limit(1);
    if backend == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    query
}

/// In the transaction that just paused (`enabled` false) or resumed the
/// webhook: its first batch of deliveries brought in line, and a sweep of
/// the rest recorded when more may remain (replacing one an earlier pause
/// or resume left: this one starts over). True when the sweeper has work.
pub(super) async fn start_sweep(
    txn: &DatabaseTransaction,
    organization: OrganizationId,
    webhook: WebhookId,
    enabled: bool,
) -> Result<bool, StoreError> {
    let Some(after) = align(txn, webhook, enabled, None).await? else {
        webhook_sweep::Entity::delete_by_id(webhook.as_uuid())
            .exec(txn)
            .await?;
        return Ok(false);
    };
    let sweep = webhook_sweep::ActiveModel {
        webhook_id: Set(webhook.as_uuid()),
        organization_id: Set(organization.as_uuid()),
        after: Set(Some(after)),
    };
    webhook_sweep::Entity::insert(sweep)
        .on_conflict(
            OnConflict::column(webhook_sweep::Column::WebhookId)
                .update_column(webhook_sweep::Column::After)
                .to_owned(),
        )
        .exec(txn)
        .await?;
    Ok(true)
}

/// Brings the next [`PAUSE_BATCH`] of the webhook's deliveries after
/// `after` (in id order) in line with `enabled`: a paused webhook's
/// pending ones marked, every mark of an enabled one's cleared (those of
/// attempts that were in flight at the pause included). `updated_at`
/// stays: to callers nothing about the deliveries changed. Returns the last
/// id looked at when the batch was full (more may follow), `None` once the
/// webhook's deliveries are all in line.
async fn align(
    txn: &DatabaseTransaction,
    webhook: WebhookId,
    enabled: bool,
    after: Option<Uuid>,
) -> Result<Option<Uuid>, StoreError> {
    // A window of the webhook's deliveries, whatever their status: it
    // costs a batch however much history the webhook has.
    let ids: Vec<Uuid> = window(webhook, after).into_tuple().all(txn).await?;
    let Some(&last) = ids.last() else {
        return Ok(None);
    };
    let full = ids.len() as u64 == PAUSE_BATCH;
    // By primary key alone: the window is already the webhook's, found in
    // its organization. With the organization too, PostgreSQL walked the
    // organization's range for every batch after a bulk of new deliveries
    // (stale statistics): 100,000 took 78 s to mark instead of 11 s.
    let update = delivery::Entity::update_many()
        .col_expr(delivery::Column::Paused, Expr::value(!enabled))
        .filter(delivery::Column::Id.is_in(ids));
    let update = if enabled {
        update.filter(delivery::Column::Paused.eq(true))
    } else {
        update
            .filter(Expr::cust("status = 'pending'"))
            .filter(delivery::Column::Paused.eq(false))
    };
    update.exec(txn).await?;
    Ok(full.then_some(last))
}

/// The ids [`align`] looks at: up to [`PAUSE_BATCH`] of the webhook's
/// deliveries after `after`, in id order, an index range of
/// `(webhook_id, id)`. The webhook alone names them (its caller found it in
/// its organization): with the organization too, a planner may pick the
/// organization's range instead.
pub(super) fn window(webhook: WebhookId, after: Option<Uuid>) -> Select<delivery::Entity> {
    let mut query = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::WebhookId.eq(webhook.as_uuid()));
    if let Some(after) = after {
        query = query.filter(delivery::Column::Id.gt(after));
    }
    query.order_by_asc(delivery::Column::Id).limit(PAUSE_BATCH)
}

/// Of deliveries a claim leased (`(delivery, webhook)`) whose webhooks it
/// read paused, those not to be sent: none of them. Those whose webhook is
/// still paused are marked, its row held until commit so that a resume
/// waits and then unmarks them; those whose webhook is being changed now
/// (PostgreSQL, never waited for: the claim holds delivery rows a pause
/// may be waiting for) are only given back, to be claimed again with the
/// webhook as it is then. Either way their lease is cleared.
pub(super) async fn held_back(
    txn: &DatabaseTransaction,
    leased: &[(Uuid, Uuid)],
) -> Result<(), StoreError> {
    if leased.is_empty() {
        return Ok(());
    }
    let mut webhooks: Vec<Uuid> = leased.iter().map(|(_, w)| *w).collect();
    webhooks.sort_unstable();
    webhooks.dedup();
    let mut paused = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Id)
        .filter(webhook::Column::Id.is_in(webhooks))
        .filter(webhook::Column::Enabled.eq(false));
    if txn.get_database_backend() == DbBackend::Postgres {
        paused = paused.lock_with_behavior(LockType::Share, LockBehavior::SkipLocked);
    }
    let paused: HashSet<Uuid> = paused
        .into_tuple::<Uuid>()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    let (marked, given_back): (Vec<_>, Vec<_>) =
        leased.iter().partition(|(_, w)| paused.contains(w));
    let ids = |rows: Vec<&(Uuid, Uuid)>| rows.into_iter().map(|(d, _)| *d).collect::<Vec<_>>();
    for (mark, rows) in [(true, ids(marked)), (false, ids(given_back))] {
        if rows.is_empty() {
            continue;
        }
        let mut update = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::LeaseUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(delivery::Column::Id.is_in(rows));
        if mark {
            update = update.col_expr(delivery::Column::Paused, Expr::value(true));
        }
        update.exec(txn).await?;
    }
    Ok(())
}
