//! The delivery backlog of the whole store, every organization and every
//! process together, for the metrics.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

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
    /// one statement over the claim's partial index of claimable
    /// deliveries (`deliveries_organization_due`): a seek per organization
    /// with claimable work, and a range scan of its deliveries due up to
    /// now, so later retries and finished deliveries are not read. Paused
    /// webhooks' deliveries are not in that index: they wait on purpose,
    /// and however many there are, they cost nothing here. Nor are an
    /// ordered webhook's deliveries waiting behind their sequence's head: a
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

/// The statement of [`Store::backlog`] read at `at`: the loose index scan
/// of [`super::organizations::pending_organizations`] over the
/// organizations, then each one's due range. (A whole-store index by
/// `next_attempt_at` served this alone, and cost an entry per delivery
/// published.)
pub(super) fn due_backlog(backend: DbBackend, at: DateTime<Utc>) -> Statement {
    let (now, first) = match backend {
        DbBackend::Postgres => ("$1", "$2"),
        _ => ("?1", "?2"),
    };
    let due = format!(
        "FROM deliveries d WHERE {CLAIMABLE} AND d.organization_id = orgs.org \
         AND d.next_attempt_at <= {now}"
    );
    let sql = format!(
        "WITH RECURSIVE orgs(org) AS ( \
           SELECT (SELECT organization_id FROM deliveries \
                   WHERE {CLAIMABLE} AND organization_id >= {first} \
                   ORDER BY organization_id LIMIT 1) \
           UNION ALL \
           SELECT (SELECT d.organization_id FROM deliveries d \
                   WHERE {CLAIMABLE} AND d.organization_id > orgs.org \
                   ORDER BY d.organization_id LIMIT 1) \
           FROM orgs WHERE orgs.org IS NOT NULL \
         ) SELECT CAST(COALESCE(SUM((SELECT COUNT(*) {due})), 0) AS BIGINT) AS due, \
           MIN((SELECT d.next_attempt_at {due} \
                ORDER BY d.organization_id, d.next_attempt_at LIMIT 1)) AS oldest \
         FROM orgs WHERE org IS NOT NULL"
    );
    // The first organization is the first at or above the nil id: a seek.
    Statement::from_sql_and_values(backend, sql, [at.into(), Uuid::nil().into()])
}
