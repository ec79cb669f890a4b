//! Webhooks that keep failing: each one remembers when its current run of
//! failed deliveries began (`failing_since`), and is disabled once that run
//! is older than WEBHOOK_DISABLE_AFTER; RecoverWebhook later sends again
//! what it missed.
//!
//! The check runs where attempts are recorded, in their transaction: a
//! webhook can only cross the line when one of its deliveries ends failed,
//! so that is when to look (no sweep over every webhook), and the error
//! that decided it is at hand for the reason.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set, UpdateMany,
};
use uuid::Uuid;

use super::attempts::{AttemptRecord, Finished, Next};
use super::entities::{delivery, event, webhook};
use super::events::Published;
use super::handoff::HandOff;
use super::scoped::Scoped;
use super::sweeps::{Target, start_sweep};
use super::unit::Defer;
use super::webhooks::{now, to_domain};
use super::{Store, StoreError, sequences};
use crate::domain::Stopped;
use crate::domain::clock;
use crate::domain::webhook::{DISABLED_PREFIX, disabled_event, disabled_reason};
use crate::domain::{DeliveryStatus, Disabled, OrganizationId, WebhookId};

/// What recording a batch of attempts did to webhooks.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Webhooks disabled for failing too long: deliveries held for them
    /// must not be sent.
    pub disabled: Vec<WebhookId>,
    /// The `webhook.disabled` events; their deliveries wait in the store
    /// to be claimed.
    pub published: Vec<Published>,
    /// Deliveries that reached a final status: those the attempts ended,
    /// and the pending ones of the webhooks disabled that this transaction
    /// cancelled (the sweeper counts the rest).
    pub finished: Finished,
    /// Deliveries that became the head of their sequence because the one
    /// before them ended: due now, for a claim to take, unless handed.
    pub promoted: u64,
    /// Those of them leased to this process's workers in the same
    /// transaction: to send now.
    pub handed: Vec<super::Claimed>,
}

impl Recorded {
    /// Adds what `other`, another part of the same batch, did.
    pub fn absorb(&mut self, other: Recorded) {
        self.disabled.extend(other.disabled);
        self.published.extend(other.published);
        self.finished += other.finished;
        self.promoted += other.promoted;
        self.handed.extend(other.handed);
    }
}

/// Webhooks a batch of attempts will disable, locked, with the error that
/// decided it.
pub(super) struct Disabling {
    now: DateTime<Utc>,
    after: Duration,
    due: Vec<(webhook::Model, String)>,
}

impl Disabling {
    /// Starts or ends each webhook's run of failures by the last delivery
    /// of the batch that ended (failed or succeeded), and locks the
    /// webhooks whose run is now `after` old or older.
    pub(super) async fn start(
        txn: &impl Defer,
        records: &[AttemptRecord],
        after: Duration,
    ) -> Result<Self, StoreError> {
        let now = now();
        let mut last: HashMap<Uuid, &AttemptRecord> = HashMap::new();
        let ended_deliveries = records
            .iter()
            .filter(|r| matches!(r.next, Next::Succeeded | Next::Failed));
        for record in ended_deliveries {
            match last.entry(record.webhook_id.as_uuid()) {
                Entry::Occupied(mut e) if ended(e.get()) < ended(record) => {
                    e.insert(record);
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(e) => {
                    e.insert(record);
                }
            }
        }
        let (failed, succeeded): (Vec<Uuid>, Vec<Uuid>) = {
            let (failed, succeeded): (Vec<_>, Vec<_>) =
                last.iter().partition(|(_, r)| r.next == Next::Failed);
            let ids = |v: Vec<(&Uuid, &&AttemptRecord)>| v.into_iter().map(|(id, _)| *id).collect();
            (ids(failed), ids(succeeded))
        };
        // Held back: on SQLite they go with the next statement sent.
        if !succeeded.is_empty() {
            let ended = webhook::Entity::update_many()
                .col_expr(
                    webhook::Column::FailingSince,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .filter(webhook::Column::Id.is_in(succeeded))
                .filter(webhook::Column::FailingSince.is_not_null());
            txn.defer(&ended.into_query()).await?;
        }
        let mut due = Vec::new();
        if !failed.is_empty() {
            let started = webhook::Entity::update_many()
                .col_expr(webhook::Column::FailingSince, Expr::value(now))
                .filter(webhook::Column::Id.is_in(failed.iter().copied()))
                .filter(webhook::Column::FailingSince.is_null());
            txn.defer(&started.into_query()).await?;
            // Runs never start before 1970; the bound keeps a huge setting
            // inside what the databases can compare.
            let threshold = clock::before(now, after).max(DateTime::UNIX_EPOCH);
            let rows = webhook::Entity::find()
                .filter(webhook::Column::Id.is_in(failed))
                .filter(webhook::Column::Enabled.eq(true))
                .filter(webhook::Column::FailingSince.lte(threshold))
                .lock_exclusive()
                .all(txn)
                .await?;
            for row in rows {
                let error = last
                    .get(&row.id)
                    .and_then(|r| r.last_error())
                    .unwrap_or_default();
                due.push((row, error));
            }
        }
        Ok(Self { now, after, due })
    }
}

/// When an attempt's answer (or failure) came.
fn ended(record: &AttemptRecord) -> DateTime<Utc> {
    clock::after(record.started_at, record.duration)
}

impl Store {
    /// Disables the webhooks `disabling` found, cancels their pending
    /// deliveries (marked so RecoverWebhook finds them; a batch here, the
    /// rest by the sweeper, see `sweeps`), tells the workers, and publishes
    /// `webhook.disabled` for each, all inside `txn`.
    pub(super) async fn finish_disabling(
        &self,
        txn: &impl Defer,
        disabling: Disabling,
    ) -> Result<Recorded, StoreError> {
        let mut recorded = Recorded::default();
        let now = disabling.now;
        for (row, error) in disabling.due {
            let id = WebhookId::from_uuid(row.id);
            let organization = OrganizationId::from_uuid(row.organization_id);
            let since = row.failing_since.unwrap_or(now);
            let disabled = Disabled {
                reason: disabled_reason(since, disabling.after, &error),
                at: now,
            };
            let mut row = row.into_active_model();
            row.enabled = Set(false);
            row.disabled_reason = Set(Some(disabled.reason.clone()));
            row.disabled_at = Set(Some(now));
            row.updated_at = Set(now);
            let row = row.update(txn).await?;
            let target = Target::Disabled {
                reason: disabled.reason.clone(),
            };
            let started = start_sweep(txn, organization, id, target).await?;
            recorded.finished.cancelled += started.cancelled;
            self.announce_change(txn, id).await?;
            let webhook = to_domain(row)?;
            let event = disabled_event(&webhook, &disabled);
            // Leased to nobody: the recorder wakes the workers for it.
            let published = self.publish_in(txn, &event, &mut HandOff::none()).await?;
            recorded.published.push(published);
            recorded.disabled.push(id);
        }
        Ok(recorded)
    }
}

/// What RecoverWebhook did.
pub enum Recovered {
    NoSuchWebhook,
    /// The webhook is paused or disabled: enable it first.
    Stopped(Stopped),
    /// This many deliveries are pending again.
    Scheduled(u64),
}

impl Store {
    /// Makes pending again, due now, every delivery of the webhook that
    /// failed or was cancelled when the webhook was disabled, and whose
    /// event is newer than `since`; attempt counts are kept.
    pub async fn recover_webhook(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        since: DateTime<Utc>,
    ) -> Result<Recovered, StoreError> {
        let txn = self.write_transaction().await?;
        // Locked until commit, as in RetryDelivery: a DeleteWebhook racing
        // this waits, then cancels what is made pending here.
        let Some(webhook) = webhook::Entity::find_in(organization)
            .filter(webhook::Column::Id.eq(id.as_uuid()))
            .lock_shared()
            .one(&txn)
            .await?
        else {
            return Ok(Recovered::NoSuchWebhook);
        };
        if !webhook.enabled {
            return Ok(Recovered::Stopped(Stopped::of(webhook.disabled_reason)));
        }
        // Events are stored to the microsecond; `since` floored to one
        // compares the same (an event is newer than `since` exactly when
        // it is newer than its floor) and binds alike on both backends.
        let since = since.trunc_subsecs(6);
        // An ordered webhook's deliveries of a sequence go to its back, in
        // the order they were first scheduled: read them first (the range
        // of the webhook that the update reads anyway).
        let in_sequences: Vec<(Uuid, String)> = if webhook.ordered {
            delivery::Entity::find_in(organization)
                .select_only()
                .columns([delivery::Column::Id, delivery::Column::OrderingKey])
                .filter(missed_since(organization, id, since))
                .filter(delivery::Column::OrderingKey.is_not_null())
                .order_by_asc(delivery::Column::CreatedAt)
                .order_by_asc(delivery::Column::Id)
                .into_tuple()
                .all(&txn)
                .await?
        } else {
            Vec::new()
        };
        let now = now();
        let recovered = recovering(organization, id, since, now).exec(&txn).await?;
        sequences::requeue(&txn, webhook.id, &in_sequences, now).await?;
        txn.commit().await?;
        Ok(Recovered::Scheduled(recovered.rows_affected))
    }
}

/// The statement of [`Store::recover_webhook`]: makes pending again, due
/// now, the deliveries of the webhook that failed or were cancelled by its
/// disabling, whose event is newer than `since`.
pub(super) fn recovering(
    organization: OrganizationId,
    id: WebhookId,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> UpdateMany<delivery::Entity> {
    delivery::Entity::update_in(organization)
        .col_expr(
            delivery::Column::Status,
            Expr::value(DeliveryStatus::Pending.as_str()),
        )
        // Already due, in the order they were scheduled: claims take
        // the earliest `next_attempt_at` first, so the oldest go first.
        .col_expr(
            delivery::Column::NextAttemptAt,
            Expr::col(delivery::Column::CreatedAt),
        )
        .col_expr(
            delivery::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        // The webhook is enabled: nothing of it waits for a resume.
        .col_expr(delivery::Column::Paused, Expr::value(false))
        // Nor behind anything, unless put at the back of its sequence
        // after (a delivery cancelled while behind kept the mark).
        .col_expr(delivery::Column::Behind, Expr::value(false))
        .filter(missed_since(organization, id, since))
}

/// The deliveries of the webhook that failed or were cancelled by its
/// disabling, whose event is newer than `since`.
fn missed_since(organization: OrganizationId, id: WebhookId, since: DateTime<Utc>) -> Condition {
    let missed = Condition::any()
        .add(delivery::Column::Status.eq(DeliveryStatus::Failed.as_str()))
        .add(
            Condition::all()
                .add(delivery::Column::Status.eq(DeliveryStatus::Cancelled.as_str()))
                .add(delivery::Column::LastError.starts_with(DISABLED_PREFIX)),
        );
    // The webhook's deliveries are the range read; each one's event is
    // looked up by its key. (`event_id IN (events newer than since)` read
    // the organization's events by age, or every organization's.)
    let newer = event::Entity::find_in(organization)
        .select_only()
        .expr(Expr::value(1))
        .filter(sea_orm::sea_query::ExprTrait::equals(
            Expr::col((event::Entity, event::Column::Id)),
            (delivery::Entity, delivery::Column::EventId),
        ))
        .filter(event::Column::CreatedAt.gt(since))
        .into_query();
    Condition::all()
        .add(delivery::Column::WebhookId.eq(id.as_uuid()))
        .add(missed)
        .add(Expr::exists(newer))
}
