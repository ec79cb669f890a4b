//! Recording what each attempt came to, and moving its delivery on.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryTrait, Set, UpdateMany,
};
use uuid::Uuid;

use super::claims::lease_end;
use super::disabling::{Disabling, Recorded};
use super::entities::{delivery, delivery_attempt};
use super::sequences::Promoted;
use super::unit::{Defer, Later};
use super::{HandOff, Store, StoreError, sequences};
use crate::domain::{DeliveryId, DeliveryStatus, OrganizationId, WebhookId};

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// Deliveries moved to each final status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl std::ops::AddAssign for Finished {
    fn add_assign(&mut self, other: Self) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
    }
}

/// One attempt, to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    /// The delivery's organization: the next of an ordered sequence, made
    /// its head when this one ends, is handed to the workers within its
    /// organization's share.
    pub organization_id: OrganizationId,
    /// The delivery's webhook, whose run of failures the outcome extends
    /// or ends.
    pub webhook_id: WebhookId,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub status_code: Option<u16>,
    pub error_kind: Option<&'static str>,
    pub error_message: Option<String>,
    pub response_excerpt: Option<String>,
    pub next: Next,
    /// The ordering key of the delivery's sequence (see `Claimed`): when
    /// the attempt ends the delivery, the next one of the sequence becomes
    /// its head.
    pub ordering_key: Option<String>,
}

impl AttemptRecord {
    /// The same attempt without the texts that came from outside (the
    /// response excerpt, the error message): what is left when those could
    /// not be stored.
    pub fn without_texts(&self) -> Self {
        Self {
            error_message: self
                .error_message
                .as_ref()
                .map(|_| "(the error message could not be stored)".to_owned()),
            response_excerpt: self
                .response_excerpt
                .as_ref()
                .map(|_| "(the response excerpt could not be stored)".to_owned()),
            ..self.clone()
        }
    }

    /// What the delivery's `last_error` says after this attempt.
    pub(super) fn last_error(&self) -> Option<String> {
        match (&self.error_kind, self.status_code, &self.error_message) {
            // An answer with a failing status: the status says it all.
            (Some(kind), Some(code), None) => Some(format!("{kind}: {code}")),
            (Some(kind), _, message) => Some(format!(
                "{kind}: {}",
                storable(message.as_deref().unwrap_or(""))
            )),
            (None, Some(code), _) => Some(format!("http_status: {code}")),
            (None, None, _) => None,
        }
    }
}

/// `text` as the database can store it: PostgreSQL refuses NUL in text, and
/// a receiver's answer may hold anything.
fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

impl Store {
    /// Records attempts and moves their deliveries on, in one transaction. A
    /// delivery whose attempt count moved meanwhile (its lease was lost and
    /// someone else tried it), or that was cancelled, keeps its state; the
    /// attempt is still recorded. [`Recorded::finished`] counts only the
    /// deliveries that did move to a final status.
    ///
    /// In the same transaction, each webhook's run of failures is extended
    /// or ended, and a webhook failing for `disable_after` or longer is
    /// disabled (see `disabling`). The deliveries that became heads of
    /// their sequences are leased to this process's workers as far as
    /// `hand_off` lets them, and returned in [`Recorded::handed`]: the next
    /// of a key goes out without waiting for a claim.
    pub async fn record_attempts(
        &self,
        records: &[AttemptRecord],
        disable_after: Duration,
        hand_off: &mut HandOff,
    ) -> Result<Recorded, StoreError> {
        if records.is_empty() {
            return Ok(Recorded::default());
        }
        let now = Utc::now();
        let txn = self.relaxed_unit().await?;
        // Webhook rows first, deliveries after, as DeleteWebhook does: the
        // same lock order cannot deadlock.
        let disabling = Disabling::start(&txn, records, disable_after).await?;
        // Successes differ only in their attempt number: one statement for
        // each number (nearly always just 1) instead of one per delivery.
        let mut succeeded: HashMap<u32, Vec<Uuid>> = HashMap::new();
        for record in records.iter().filter(|r| r.next == Next::Succeeded) {
            succeeded
                .entry(record.attempt)
                .or_default()
                .push(record.delivery_id.as_uuid());
        }
        // Held back (on SQLite they go with the COMMIT): how many each
        // moved is read once committed.
        let mut succeeded_moves = Vec::new();
        for (attempt, ids) in succeeded {
            let update = delivery::Entity::update_many()
                .col_expr(
                    delivery::Column::Status,
                    Expr::value(DeliveryStatus::Succeeded.as_str()),
                )
                .col_expr(delivery::Column::Attempts, Expr::value(attempt as i32))
                .col_expr(
                    delivery::Column::LeaseUntil,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .col_expr(delivery::Column::LastError, Expr::value(None::<String>))
                .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
                .filter(delivery::Column::Id.is_in(ids))
                .filter(delivery::Column::Attempts.eq(attempt as i32 - 1))
                .filter(Expr::cust("status = 'pending'"));
            succeeded_moves.push(txn.defer(&update.into_query()).await?);
        }
        // The others too, grouped by what they set alike (attempt number,
        // status, error): a failing endpoint's deliveries share one
        // statement, each with its own next attempt time.
        let mut unsuccessful: HashMap<(u32, DeliveryStatus, Option<String>), Vec<Moving>> =
            HashMap::new();
        for record in records.iter().filter(|r| r.next != Next::Succeeded) {
            let (status, next_attempt_at) = match record.next {
                Next::Succeeded => (DeliveryStatus::Succeeded, None),
                Next::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
                Next::Failed => (DeliveryStatus::Failed, None),
            };
            unsuccessful
                .entry((record.attempt, status, record.last_error()))
                .or_default()
                .push((record.delivery_id.as_uuid(), next_attempt_at));
        }
        let mut failed_moves = Vec::new();
        for ((attempt, status, last_error), moving) in unsuccessful {
            for group in moving.chunks(MOVED_PER_STATEMENT) {
                let update = moving_on(attempt, status, last_error.as_deref(), group, now);
                let moved = txn.defer(&update.into_query()).await?;
                if status == DeliveryStatus::Failed {
                    failed_moves.push(moved);
                }
            }
        }
        let attempts = records.iter().map(|r| delivery_attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(r.delivery_id.as_uuid()),
            attempt: Set(r.attempt as i32),
            started_at: Set(r.started_at),
            duration_ms: Set(r.duration.as_millis().min(i32::MAX as u128) as i32),
            status_code: Set(r.status_code.map(i32::from)),
            error_kind: Set(r.error_kind.map(str::to_owned)),
            error_message: Set(r.error_message.as_deref().map(storable)),
            response_excerpt: Set(r.response_excerpt.as_deref().map(storable)),
        });
        txn.defer(&delivery_attempt::Entity::insert_many(attempts).into_query())
            .await?;
        // After the deliveries that ended left `pending` (delivery rows
        // before sequence rows): the next of each sequence is its head.
        let ended = records.iter().filter_map(|r| match r.next {
            Next::Succeeded | Next::Failed => {
                Some((r.webhook_id.as_uuid(), r.ordering_key.clone()?))
            }
            Next::RetryAt(_) => None,
        });
        let promoted = sequences::promote_heads(&txn, ended).await?;
        let mut recorded = self.finish_disabling(&txn, disabling).await?;
        // After the disabling: a head of a webhook disabled just now is not
        // handed (it is held back like a claimed one).
        let (handed, cancelled) = self.lease_promoted(&txn, &promoted, hand_off).await?;
        let committed = txn.commit().await?;
        let moved =
            |laters: &[Later]| -> u64 { laters.iter().map(|l| committed.rows_affected(*l)).sum() };
        let finished = Finished {
            succeeded: moved(&succeeded_moves),
            failed: moved(&failed_moves),
            cancelled,
        };
        recorded.handed = handed;
        if !recorded.disabled.is_empty() {
            // A large backlog's cancels are left to the sweeper.
            self.sweep_soon();
        }
        recorded.finished += finished;
        recorded.promoted += promoted.len() as u64;
        Ok(recorded)
    }

    /// Leases to this process's workers the promoted deliveries `hand_off`
    /// has places for, and loads them to send (as a claim would); answers
    /// them, and how many turned out to have no webhook or event left and
    /// were cancelled. The others wait for a claim.
    async fn lease_promoted(
        &self,
        txn: &impl ConnectionTrait,
        promoted: &[Promoted],
        hand_off: &mut HandOff,
    ) -> Result<(Vec<super::Claimed>, u64), StoreError> {
        let taken: Vec<Uuid> = promoted
            .iter()
            .filter(|p| {
                hand_off.take(
                    OrganizationId::from_uuid(p.organization_id),
                    WebhookId::from_uuid(p.webhook_id),
                )
            })
            .map(|p| p.id)
            .collect();
        if taken.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let now = Utc::now();
        let until = lease_end(now, hand_off.lease());
        let leased = delivery::Entity::update_many()
            .col_expr(delivery::Column::LeaseUntil, Expr::value(Some(until)))
            .filter(delivery::Column::Id.is_in(taken))
            .filter(delivery::Column::NextAttemptAt.lte(now))
            .exec_with_returning(txn)
            .await?;
        self.load_claimed(txn, leased, until).await
    }
}

/// A delivery an attempt did not end in success, and when it is tried
/// again (`None`: never).
type Moving = (Uuid, Option<DateTime<Utc>>);

/// Deliveries moved on in one statement, at most: three bind parameters
/// each, well inside the databases' limits.
const MOVED_PER_STATEMENT: usize = 500;

/// Moves on, in one statement, deliveries whose attempt `attempt` did not
/// succeed and that share `status` and `last_error`.
fn moving_on(
    attempt: u32,
    status: DeliveryStatus,
    last_error: Option<&str>,
    deliveries: &[Moving],
    now: DateTime<Utc>,
) -> UpdateMany<delivery::Entity> {
    let mut update = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(status.as_str()))
        .col_expr(delivery::Column::Attempts, Expr::value(attempt as i32))
        .col_expr(
            delivery::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(
            delivery::Column::LastError,
            Expr::value(last_error.map(str::to_owned)),
        )
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now));
    let retries = deliveries.iter().filter_map(|(id, at)| Some((*id, (*at)?)));
    let mut next_attempt = retries.peekable();
    if next_attempt.peek().is_some() {
        let each = next_attempt.fold(CaseStatement::new(), |case, (id, at)| {
            case.case(delivery::Column::Id.eq(id), Expr::value(at))
        });
        update = update.col_expr(
            delivery::Column::NextAttemptAt,
            each.finally(Expr::col(delivery::Column::NextAttemptAt))
                .into(),
        );
    }
    update
        .filter(delivery::Column::Id.is_in(deliveries.iter().map(|(id, _)| *id)))
        .filter(delivery::Column::Attempts.eq(attempt as i32 - 1))
        // A delivery cancelled meanwhile stays cancelled.
        .filter(Expr::cust("status = 'pending'"))
}

#[cfg(test)]
mod tests {
    use super::storable;

    #[test]
    fn nul_bytes_become_replacement_characters() {
        assert_eq!(storable("ok\0bad"), "ok\u{FFFD}bad");
        assert_eq!(storable("plain"), "plain");
    }
}
