//! A paused webhook's pending deliveries wait out of the claim path: they
//! are marked `paused`, a resume clears the mark, and the partial indexes
//! that the claims and the backlog gauge read (`claims::CLAIMABLE`) leave
//! marked ones out. So a paused backlog costs nothing while it waits,
//! however large; callers still see those deliveries pending, and the
//! status filter PENDING finds them.
//!
//! Marking is bounded: the transaction that pauses or resumes a webhook
//! brings at most [`PAUSE_BATCH`] of its deliveries in line, and the
//! sweeper the rest (see `sweeps`), from the webhook's `enabled` as it is
//! then (so a pause quickly followed by a resume ends unmarked).
//! Meanwhile a claim that leases a paused (or disabled) webhook's delivery
//! not yet marked (or cancelled) marks it instead of sending it
//! ([`held_back`]).
//!
//! Everything else that makes a delivery pending says whether it is
//! paused: RetryDelivery as its webhook is; publishing, SendTestEvent and
//! RecoverWebhook never (they only schedule for a webhook that is not
//! paused). An attempt in flight when its delivery is marked keeps the
//! mark: retried later, it waits for the resume like the others; ended,
//! the mark means nothing.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::StoreError;
use super::entities::{delivery, webhook};

/// The most deliveries one transaction of a pause, a resume, a delete, a
/// disable or the sweeper looks at, and so marks, unmarks or cancels: a
/// bounded hold on the database.
pub const PAUSE_BATCH: u64 = 1_000;

/// Of deliveries a claim leased (`(delivery, webhook)`) whose webhooks it
/// read paused, those not to be sent: none of them. Those whose webhook is
/// still paused are marked, its row held until commit so that a resume
/// waits and then unmarks them; those whose webhook is being changed now
/// (PostgreSQL, never waited for: the claim holds delivery rows a pause
/// may be waiting for) are only given back, to be claimed again with the
/// webhook as it is then. Either way their lease is cleared.
pub(super) async fn held_back(
    txn: &impl ConnectionTrait,
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
