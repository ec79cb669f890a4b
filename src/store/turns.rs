//! Turns of rate-limited webhooks, shared by every process on one
//! PostgreSQL: one row per webhook that ever had a turn, holding its next
//! free one. Taking a turn is one statement, so the cost is bounded by the
//! rate itself; webhooks without a limit never come here.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{Store, StoreError};
use crate::domain::WebhookId;

/// What the database answered when asked for a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    /// How long to wait for the turn taken; `None` when none was free
    /// within reach, and none was taken.
    pub wait: Option<Duration>,
    /// How far ahead of now the webhook's next free turn is.
    pub next_free: Duration,
}

impl Store {
    /// Takes `webhook`'s next free turn, `step` after the one before and
    /// not before now, if it comes within `reach`; the next free turn is
    /// then `step` later. The database's clock sets the turns, so processes
    /// whose clocks differ still space them evenly.
    pub async fn take_turn(
        &self,
        webhook: WebhookId,
        step: Duration,
        reach: Duration,
    ) -> Result<Turn, StoreError> {
        // `statement_timestamp()`: the time this statement started, once
        // for all of it. The outer SELECT sees the row as it was before,
        // which only matters when no turn was taken.
        let sql = "WITH taken AS ( \
               INSERT INTO webhook_turns AS t (webhook_id, next_turn) \
               VALUES ($1, statement_timestamp() + make_interval(secs => $2)) \
               ON CONFLICT (webhook_id) DO UPDATE \
                 SET next_turn = GREATEST(t.next_turn, statement_timestamp()) \
                   + make_interval(secs => $2) \
                 WHERE t.next_turn <= statement_timestamp() + make_interval(secs => $3) \
               RETURNING t.next_turn) \
             SELECT \
               (SELECT EXTRACT(EPOCH FROM next_turn - statement_timestamp())::float8 \
                FROM taken) AS taken, \
               (SELECT EXTRACT(EPOCH FROM next_turn - statement_timestamp())::float8 \
                FROM webhook_turns WHERE webhook_id = $1) AS before";
        let txn = self.relaxed_transaction().await?;
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [
                    webhook.as_uuid().into(),
                    step.as_secs_f64().into(),
                    reach.as_secs_f64().into(),
                ],
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("taking a turn returned no row"))?;
        txn.commit().await?;
        let seconds = |s: f64| Duration::from_secs_f64(s.max(0.0));
        let taken: Option<f64> = row.try_get("", "taken")?;
        let before: Option<f64> = row.try_get("", "before")?;
        Ok(match taken {
            Some(next) => Turn {
                wait: Some(seconds(next).saturating_sub(step)),
                next_free: seconds(next),
            },
            None => Turn {
                wait: None,
                next_free: seconds(before.unwrap_or(reach.as_secs_f64())),
            },
        })
    }
}
