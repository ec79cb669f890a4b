//! The delivery backlog of the whole store, every organization and every
//! process together, for the metrics.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::claims::CLAIMABLE;
use super::{Store, StoreError};

/// Deliveries due and not yet done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Pending deliveries due at or before the reading, in flight or not.
    pub due: u64,
    /// When the longest-waiting of them came due; `None` when none is due.
    pub oldest_due: Option<DateTime<Utc>>,
    /// When the store was read.
    pub at: DateTime<Utc>,
}

impl Store {
    /// The pending deliveries due now, with the oldest one's due time, in
    /// one statement: a range scan up to now of a partial index of the
    /// pending deliveries (`deliveries_due`, by `next_attempt_at`; or
    /// `deliveries_organization_due`, as the planner likes), so later
    /// retries and finished deliveries are not read. Paused webhooks'
    /// deliveries are not in those indexes: they wait on purpose, and
    /// however many there are, they cost nothing here. Nor are an ordered
    /// webhook's deliveries waiting behind their sequence's head: a
    /// sequence counts here by its head alone.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let at = Utc::now();
        let row = self
            .db
            .query_one_raw(due_backlog(self.db.get_database_backend(), at))
            .await?;
        let Some(row) = row else {
            return Ok(Backlog {
                due: 0,
                oldest_due: None,
                at,
            });
        };
        let due: i64 = row.try_get("", "due")?;
        let oldest_due: Option<DateTime<Utc>> = row.try_get("", "oldest")?;
        Ok(Backlog {
            due: u64::try_from(due).unwrap_or(0),
            oldest_due,
            at,
        })
    }
}

/// The statement of [`Store::backlog`] read at `at`.
pub(super) fn due_backlog(backend: DbBackend, at: DateTime<Utc>) -> Statement {
    let now = match backend {
        DbBackend::Postgres => "$1",
        _ => "?1",
    };
    let sql = format!(
        "SELECT COUNT(*) AS due, MIN(next_attempt_at) AS oldest FROM deliveries \
         WHERE {CLAIMABLE} AND next_attempt_at <= {now}"
    );
    Statement::from_sql_and_values(backend, sql, [at.into()])
}
