//! What a pause, a resume, a delete or a disable leaves for the sweeper: a
//! webhook whose deliveries are not all in line with it yet. The change's
//! own transaction brings at most [`PAUSE_BATCH`] of them in line and, when
//! more may remain, records the webhook in `webhook_sweeps` with the last
//! delivery it looked at; the sweeper ([`Store::sweep`], run by
//! `delivery::sweeper`) does the rest a batch per short transaction. A
//! transaction never holds the database for more than a batch, whatever
//! the backlog.
//!
//! Each batch goes by the webhook as it is when the sweeper comes
//! ([`Target`]), not by what recorded the sweep: a pause undone at once
//! ends unmarked, a webhook enabled again while its disable is swept keeps
//! (and sends) what was not cancelled yet. A change that needs a sweep
//! starts it over from the first delivery, so a row's position is always
//! that of the webhook's latest state.

use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set, UpdateMany,
};
use uuid::Uuid;

use super::claims::cancelling;
use super::entities::{delivery, webhook, webhook_sweep};
use super::pausing::PAUSE_BATCH;
use super::scoped::Scoped;
use super::{Store, StoreError, sequences};
use crate::domain::webhook::DISABLED_PREFIX;
use crate::domain::{OrganizationId, WebhookId};

/// What one step of the sweeper did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// No webhook waits for its deliveries to be brought in line (none
    /// this process may take now, on PostgreSQL).
    Idle,
    /// A batch of this (paused or enabled) webhook's deliveries is marked
    /// or unmarked; others may wait.
    Swept(WebhookId),
    /// A batch of this deleted or disabled webhook's deliveries is looked
    /// at, and this many of them, pending until now, are cancelled.
    Cancelled(WebhookId, u64),
    /// This webhook's row is being changed now (a pause, a resume, an
    /// update, a delete): its sweep waits for the next step.
    Busy(WebhookId),
}

/// What a webhook's deliveries are brought in line with: the webhook as it
/// is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// Enabled: no delivery of it waits for a resume. Unordered: none
    /// waits behind another either (it may have been ordered).
    Enabled { ordered: bool },
    /// Paused by hand: its pending deliveries are marked (`pausing`).
    /// Unordered: none waits behind another.
    Paused { ordered: bool },
    /// Disabled for failing, for `reason`: its pending deliveries are
    /// cancelled, their `last_error` the one RecoverWebhook looks for.
    Disabled { reason: String },
    /// Deleted from `organization`: its pending deliveries are cancelled.
    Deleted { organization: OrganizationId },
}

impl Target {
    /// A webhook row's target: disabled when it was disabled for failing
    /// (enabling it again clears the reason), paused when disabled by hand.
    pub(super) fn of(enabled: bool, disabled_reason: Option<String>, ordered: bool) -> Self {
        match (enabled, disabled_reason) {
            (true, _) => Target::Enabled { ordered },
            (false, Some(reason)) => Target::Disabled { reason },
            (false, None) => Target::Paused { ordered },
        }
    }

    fn cancels(&self) -> bool {
        matches!(self, Target::Disabled { .. } | Target::Deleted { .. })
    }
}

/// What a change's own transaction did to the webhook's deliveries.
pub(super) struct Started {
    /// The sweeper has the rest to do: wake it once committed.
    pub sweep_later: bool,
    /// Pending deliveries this transaction cancelled.
    pub cancelled: u64,
}

impl Store {
    /// Wakes the sweeper of this process: a change left it work.
    pub(super) fn sweep_soon(&self) {
        self.sweeps.notify_one();
    }

    /// Returns once a change in this process has left work for the
    /// sweeper (at once when one did since the last call).
    pub async fn sweep_wanted(&self) {
        self.sweeps.notified().await;
    }

    /// Brings the next batch of one webhook's deliveries in line with the
    /// webhook: the first webhook waiting after `last` in id order (round
    /// robin, so one large backlog does not hold up another webhook's
    /// sweep), or the first one. One short transaction.
    pub async fn sweep(&self, last: Option<WebhookId>) -> Result<Sweep, StoreError> {
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
        // Held until commit: a change of the webhook waits, then starts
        // over from its own state. Never waited for while holding the
        // sweep's row, which a change writes after the webhook's.
        let mut current = webhook::Entity::find_in(organization)
            .select_only()
            .columns([
                webhook::Column::Enabled,
                webhook::Column::DisabledReason,
                webhook::Column::Ordered,
            ])
            .filter(webhook::Column::Id.eq(id.as_uuid()));
        if backend == DbBackend::Postgres {
            current = current.lock_with_behavior(LockType::Share, LockBehavior::SkipLocked);
        }
        let target = match current
            .into_tuple::<(bool, Option<String>, bool)>()
            .one(&txn)
            .await?
        {
            Some((enabled, reason, ordered)) => Target::of(enabled, reason, ordered),
            None => {
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
                Target::Deleted { organization }
            }
        };
        let (next, cancelled) = bring_in_line(&txn, id, &target, sweep.after).await?;
        match next {
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
        Ok(if target.cancels() {
            Sweep::Cancelled(id, cancelled)
        } else {
            Sweep::Swept(id)
        })
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

/// In the transaction that just paused, resumed, deleted or disabled the
/// webhook (its row written, or deleted, first): its first batch of
/// deliveries brought in line with `target`, and a sweep of the rest
/// recorded when more may remain (replacing one an earlier change left:
/// this one starts over).
pub(super) async fn start_sweep(
    txn: &impl ConnectionTrait,
    organization: OrganizationId,
    webhook: WebhookId,
    target: Target,
) -> Result<Started, StoreError> {
    let (next, cancelled) = bring_in_line(txn, webhook, &target, None).await?;
    let Some(after) = next else {
        webhook_sweep::Entity::delete_by_id(webhook.as_uuid())
            .exec(txn)
            .await?;
        return Ok(Started {
            sweep_later: false,
            cancelled,
        });
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
    Ok(Started {
        sweep_later: true,
        cancelled,
    })
}

/// Brings the next [`PAUSE_BATCH`] of the webhook's deliveries after
/// `after` (in id order) in line with `target`. Returns the last id looked
/// at when the batch was full (more may follow; `None` once the webhook's
/// deliveries are all in line), and how many pending ones it cancelled.
async fn bring_in_line(
    txn: &impl ConnectionTrait,
    webhook: WebhookId,
    target: &Target,
    after: Option<Uuid>,
) -> Result<(Option<Uuid>, u64), StoreError> {
    // A window of the webhook's deliveries, whatever their status: it
    // costs a batch however much history the webhook has.
    let (ids, last) = match target {
        Target::Deleted { organization } => {
            // No webhook row vouches for the organization any more: each
            // delivery's own says whether the sweep may touch it.
            let rows: Vec<(Uuid, Uuid)> =
                deleted_window(webhook, after).into_tuple().all(txn).await?;
            let last = rows.last().map(|(id, _)| *id);
            let full = rows.len() as u64 == PAUSE_BATCH;
            let ids = rows
                .into_iter()
                .filter(|(_, owner)| *owner == organization.as_uuid())
                .map(|(id, _)| id)
                .collect::<Vec<_>>();
            (ids, last.filter(|_| full))
        }
        _ => {
            let ids: Vec<Uuid> = window(webhook, after).into_tuple().all(txn).await?;
            let full = ids.len() as u64 == PAUSE_BATCH;
            let last = ids.last().copied().filter(|_| full);
            (ids, last)
        }
    };
    if matches!(target, Target::Enabled { .. }) && (after.is_none() || last.is_none()) {
        // Enabled again, perhaps while a disabling's sweep was under way:
        // it may have cancelled a sequence's head and left its successors
        // behind. At the first batch (in the transaction that enables) and
        // at the last, every sequence of the webhook gets its head.
        sequences::promote_webhook(txn, webhook.as_uuid()).await?;
    }
    if ids.is_empty() {
        return Ok((last, 0));
    }
    let changed = batch_update(target, ids).exec(txn).await?.rows_affected;
    Ok((last, if target.cancels() { changed } else { 0 }))
}

/// The statement that brings the deliveries `ids` (a window of one
/// webhook's) in line with `target`: a paused webhook's pending ones
/// marked, every mark of an enabled one's cleared (those of attempts that
/// were in flight at the pause included), a deleted or disabled one's
/// pending ones cancelled. Marking leaves `updated_at`: to callers nothing
/// about the deliveries changed. By primary key alone: the window is
/// already the webhook's, found in its organization. With the organization
/// too, PostgreSQL walked the organization's range for every batch after a
/// bulk of new deliveries (stale statistics): 100,000 took 78 s to mark
/// instead of 11 s.
pub(super) fn batch_update(target: &Target, ids: Vec<Uuid>) -> UpdateMany<delivery::Entity> {
    let update = delivery::Entity::update_many().filter(delivery::Column::Id.is_in(ids));
    match target {
        Target::Enabled { ordered: true } => update
            .col_expr(delivery::Column::Paused, Expr::value(false))
            .filter(delivery::Column::Paused.eq(true)),
        // Made unordered: what waited behind a head does not any more.
        Target::Enabled { ordered: false } => update
            .col_expr(delivery::Column::Paused, Expr::value(false))
            .col_expr(delivery::Column::Behind, Expr::value(false))
            .filter(
                Condition::any()
                    .add(delivery::Column::Paused.eq(true))
                    .add(delivery::Column::Behind.eq(true)),
            ),
        Target::Paused { ordered: true } => update
            .col_expr(delivery::Column::Paused, Expr::value(true))
            .filter(Expr::cust("status = 'pending'"))
            .filter(delivery::Column::Paused.eq(false)),
        Target::Paused { ordered: false } => update
            .col_expr(delivery::Column::Paused, Expr::value(true))
            .col_expr(delivery::Column::Behind, Expr::value(false))
            .filter(Expr::cust("status = 'pending'"))
            .filter(
                Condition::any()
                    .add(delivery::Column::Paused.eq(false))
                    .add(delivery::Column::Behind.eq(true)),
            ),
        // The same mark, whichever transaction cancels them: RecoverWebhook
        // tells them from a delete's cancels by it.
        Target::Disabled { reason } => cancelling(update).col_expr(
            delivery::Column::LastError,
            Expr::value(format!("{DISABLED_PREFIX}{reason}")),
        ),
        Target::Deleted { .. } => cancelling(update),
    }
}

/// The ids [`bring_in_line`] looks at: up to [`PAUSE_BATCH`] of the
/// webhook's deliveries after `after`, in id order, an index range of
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

/// [`window`] for a deleted webhook: the same index range, each id with
/// its organization, which the sweep checks against its own.
pub(super) fn deleted_window(webhook: WebhookId, after: Option<Uuid>) -> Select<delivery::Entity> {
    window(webhook, after).column(delivery::Column::OrganizationId)
}
