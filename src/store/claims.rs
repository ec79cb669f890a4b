//! Claiming due deliveries with a lease, and recording what each attempt
//! came to. Several processes on one PostgreSQL share the work: a claim locks
//! the rows it takes with `FOR UPDATE SKIP LOCKED` and leases them, so no
//! other claimer sends the same attempt while the lease holds.

use crate::domain::clock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use uuid::Uuid;

use super::entities::{delivery, delivery_attempt, event, webhook};
use super::{Store, StoreError};
use crate::domain::{DeliveryId, DeliveryStatus, EventId, SigningSecret, WebhookId, WebhookUrl};

/// A delivery leased for one attempt, with everything needed to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    /// The attempt about to be made, 1-based.
    pub attempt: u32,
    pub url: WebhookUrl,
    pub secret: SigningSecret,
    /// The secret before a rotation, during its grace period.
    pub previous_secret: Option<SigningSecret>,
    pub body: Arc<[u8]>,
}

/// One delivery about to be attempted.
pub(super) struct Delivering<'a> {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: &'a str,
    pub attempt: u32,
    pub body: &'a Arc<[u8]>,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// One attempt, to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub status_code: Option<u16>,
    pub error_kind: Option<&'static str>,
    pub error_message: Option<String>,
    pub response_excerpt: Option<String>,
    pub next: Next,
}

impl Store {
    /// Leases up to `limit` due deliveries for `lease`, oldest due first,
    /// skipping the webhooks in `skip` (their endpoints are busy).
    pub async fn claim_due(
        &self,
        limit: u64,
        lease: Duration,
        skip: &[WebhookId],
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = Utc::now();
        let txn = self.relaxed_transaction().await?;
        let mut due = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Id)
            // A literal, so PostgreSQL can use the partial index.
            .filter(Expr::cust("status = 'pending'"))
            .filter(delivery::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(delivery::Column::LeaseUntil.is_null())
                    .add(delivery::Column::LeaseUntil.lte(now)),
            )
            // A paused webhook's deliveries wait.
            .filter(
                delivery::Column::WebhookId.not_in_subquery(
                    webhook::Entity::find()
                        .select_only()
                        .column(webhook::Column::Id)
                        .filter(webhook::Column::Enabled.eq(false))
                        .into_query(),
                ),
            )
            .order_by_asc(delivery::Column::NextAttemptAt)
            .limit(limit);
        if !skip.is_empty() {
            due =
                due.filter(delivery::Column::WebhookId.is_not_in(skip.iter().map(|w| w.as_uuid())));
        }
        if self.db.get_database_backend() == DbBackend::Postgres {
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let leased = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::LeaseUntil,
                Expr::value(Some(clock::after(now, lease))),
            )
            .filter(delivery::Column::Id.in_subquery(due.into_query()))
            .exec_with_returning(&txn)
            .await?;
        if leased.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        let claimed = self.load_claimed(&txn, leased).await?;
        txn.commit().await?;
        Ok(claimed)
    }

    async fn load_claimed(
        &self,
        txn: &DatabaseTransaction,
        leased: Vec<delivery::Model>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut event_ids: Vec<Uuid> = leased.iter().map(|d| d.event_id).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let mut webhook_ids: Vec<Uuid> = leased.iter().map(|d| d.webhook_id).collect();
        webhook_ids.sort_unstable();
        webhook_ids.dedup();

        let events: HashMap<Uuid, (String, Arc<[u8]>)> = event::Entity::find()
            .select_only()
            .columns([
                event::Column::Id,
                event::Column::EventType,
                event::Column::Body,
            ])
            .filter(event::Column::Id.is_in(event_ids))
            .into_tuple::<(Uuid, String, String)>()
            .all(txn)
            .await?
            .into_iter()
            .map(|(id, kind, body)| (id, (kind, body.into_bytes().into())))
            .collect();
        let webhooks: HashMap<Uuid, webhook::Model> = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(webhook_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        let now = Utc::now();

        let mut claimed = Vec::with_capacity(leased.len());
        for row in leased {
            let (Some((event_type, body)), Some(webhook)) =
                (events.get(&row.event_id), webhooks.get(&row.webhook_id))
            else {
                tracing::warn!(delivery_id = %row.id, "delivery without its event or webhook; left leased");
                continue;
            };
            let delivery = Delivering {
                id: DeliveryId::from_uuid(row.id),
                event_id: EventId::from_uuid(row.event_id),
                event_type,
                attempt: row.attempts as u32 + 1,
                body,
            };
            if let Some(claim) = self.claim_of(webhook, delivery, now)? {
                claimed.push(claim);
            }
        }
        Ok(claimed)
    }

    /// What a worker needs to send `delivery` to `webhook`; `None` (logged)
    /// when its secret cannot be opened: not the delivery's fault, so it is
    /// kept for when the key is fixed.
    pub(super) fn claim_of(
        &self,
        webhook: &webhook::Model,
        delivery: Delivering<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Claimed>, StoreError> {
        let webhook_id = WebhookId::from_uuid(webhook.id);
        let previous = webhook
            .previous_secret
            .as_deref()
            .filter(|_| webhook.previous_secret_expires_at.is_some_and(|t| t > now));
        let opened = self
            .secrets
            .open(webhook_id, &webhook.secret)
            .and_then(|secret| {
                let previous = previous
                    .map(|p| self.secrets.open(webhook_id, p))
                    .transpose()?;
                Ok((secret, previous))
            });
        let (secret, previous_secret) = match opened {
            Ok(secrets) => secrets,
            Err(err) => {
                tracing::error!(%webhook_id, error = %err, "cannot sign a delivery");
                return Ok(None);
            }
        };
        let url = WebhookUrl::from_stored(&webhook.url)
            .map_err(|e| anyhow::anyhow!("stored URL of webhook {webhook_id}: {e}"))?;
        Ok(Some(Claimed {
            id: delivery.id,
            webhook_id,
            event_id: delivery.event_id,
            event_type: delivery.event_type.to_owned(),
            attempt: delivery.attempt,
            url,
            secret,
            previous_secret,
            body: delivery.body.clone(),
        }))
    }

    /// Gives leased deliveries back, due as they were.
    pub async fn release(&self, ids: &[DeliveryId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let txn = self.relaxed_transaction().await?;
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::LeaseUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(delivery::Column::Id.is_in(ids.iter().map(|d| d.as_uuid())))
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

    /// Records attempts and moves their deliveries on, in one transaction. A
    /// delivery whose attempt count moved meanwhile (its lease was lost and
    /// someone else tried it), or that was cancelled, keeps its state; the
    /// attempt is still recorded.
    pub async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let txn = self.relaxed_transaction().await?;
        // Successes differ only in their attempt number: one statement for
        // each number (nearly always just 1) instead of one per delivery.
        let mut succeeded: HashMap<u32, Vec<Uuid>> = HashMap::new();
        for record in records.iter().filter(|r| r.next == Next::Succeeded) {
            succeeded
                .entry(record.attempt)
                .or_default()
                .push(record.delivery_id.as_uuid());
        }
        for (attempt, ids) in succeeded {
            delivery::Entity::update_many()
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
                .filter(Expr::cust("status = 'pending'"))
                .exec(&txn)
                .await?;
        }
        for record in records.iter().filter(|r| r.next != Next::Succeeded) {
            let (status, next_attempt_at) = match record.next {
                Next::Succeeded => (DeliveryStatus::Succeeded, None),
                Next::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
                Next::Failed => (DeliveryStatus::Failed, None),
            };
            let last_error = match (&record.error_kind, record.status_code) {
                (Some(kind), _) => Some(format!(
                    "{kind}: {}",
                    record.error_message.as_deref().unwrap_or("")
                )),
                (None, Some(code)) => Some(format!("http_status: {code}")),
                (None, None) => None,
            };
            let mut update = delivery::Entity::update_many()
                .col_expr(delivery::Column::Status, Expr::value(status.as_str()))
                .col_expr(
                    delivery::Column::Attempts,
                    Expr::value(record.attempt as i32),
                )
                .col_expr(
                    delivery::Column::LeaseUntil,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .col_expr(delivery::Column::LastError, Expr::value(last_error))
                .col_expr(delivery::Column::UpdatedAt, Expr::value(now));
            if let Some(at) = next_attempt_at {
                update = update.col_expr(delivery::Column::NextAttemptAt, Expr::value(at));
            }
            update
                .filter(delivery::Column::Id.eq(record.delivery_id.as_uuid()))
                .filter(delivery::Column::Attempts.eq(record.attempt as i32 - 1))
                // A delivery cancelled meanwhile stays cancelled.
                .filter(Expr::cust("status = 'pending'"))
                .exec(&txn)
                .await?;
        }
        let attempts = records.iter().map(|r| delivery_attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(r.delivery_id.as_uuid()),
            attempt: Set(r.attempt as i32),
            started_at: Set(r.started_at),
            duration_ms: Set(r.duration.as_millis().min(i32::MAX as u128) as i32),
            status_code: Set(r.status_code.map(i32::from)),
            error_kind: Set(r.error_kind.map(str::to_owned)),
            error_message: Set(r.error_message.clone()),
            response_excerpt: Set(r.response_excerpt.clone()),
        });
        delivery_attempt::Entity::insert_many(attempts)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// A transaction whose commit need not wait for the disk: losing it in a
    /// crash only causes a resend, which at-least-once delivery allows.
    async fn relaxed_transaction(&self) -> Result<DatabaseTransaction, StoreError> {
        let txn = self.write_transaction().await?;
        if self.db.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared("SET LOCAL synchronous_commit = off")
                .await?;
        }
        Ok(txn)
    }
}
