//! Which organizations have deliveries waiting, so that claims can take
//! each one's share instead of the oldest rows of whoever has the most.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use super::claims::CLAIMABLE;
use super::{Store, StoreError};
use crate::domain::OrganizationId;

/// What one look for organizations with pending deliveries found.
#[derive(Debug, Default)]
pub struct PendingOrganizations {
    /// Those with a delivery that is due and not leased: work a claim can
    /// take now. The others' pending deliveries are in flight or later.
    pub claimable: Vec<OrganizationId>,
    /// Where the next look starts when this one stopped at its limit;
    /// `None` when it reached the last organization.
    pub next: Option<OrganizationId>,
}

impl Store {
    /// Up to `limit` organizations with pending deliveries, in id order,
    /// starting after `after` (from the first when `None`), and which of
    /// them have work to claim. One index seek per organization to find it,
    /// and one more to look at its due deliveries, past those in flight;
    /// however many deliveries each has.
    pub async fn organizations_with_pending(
        &self,
        after: Option<OrganizationId>,
        limit: u64,
    ) -> Result<PendingOrganizations, StoreError> {
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(pending_organizations(backend, after, limit, Utc::now()))
            .await?;
        let mut found = PendingOrganizations::default();
        for row in &rows {
            let organization = OrganizationId::from_uuid(row.try_get::<Uuid>("", "org")?);
            if row.try_get::<bool>("", "claimable")? {
                found.claimable.push(organization);
            }
            if rows.len() as u64 == limit {
                found.next = Some(organization);
            }
        }
        Ok(found)
    }
}

/// The statement of [`Store::organizations_with_pending`]: a loose index
/// scan on `deliveries_organization_due`, each step seeking the next
/// organization id above the last one. The claimable test is a range scan
/// of the same index, organization fixed, `next_attempt_at` up to `now`:
/// later retries are not read. It is a first row in that index's order,
/// not an `EXISTS`: PostgreSQL keeps a generic plan for a statement
/// prepared often, and in one that knows neither `now` nor the
/// organization, an `EXISTS` reads the whole table for each organization
/// (tests/api/skewed_plans.rs); only the index gives this order.
pub(super) fn pending_organizations(
    backend: DbBackend,
    after: Option<OrganizationId>,
    limit: u64,
    now: DateTime<Utc>,
) -> Statement {
    let (first, next, at) = match backend {
        DbBackend::Postgres => ("$1", "$2", "$3"),
        _ => ("?1", "?2", "?3"),
    };
    let from = if after.is_some() { ">" } else { ">=" };
    // Paused webhooks' deliveries are not in the index, nor those waiting
    // behind their sequence's head: an organization whose only pending
    // deliveries are such is not found at all.
    let sql = format!(
        "WITH RECURSIVE orgs(org, n) AS ( \
           SELECT (SELECT organization_id FROM deliveries \
                   WHERE {CLAIMABLE} AND organization_id {from} {first} \
                   ORDER BY organization_id LIMIT 1), 1 \
           UNION ALL \
           SELECT (SELECT d.organization_id FROM deliveries d \
                   WHERE {CLAIMABLE} AND d.organization_id > orgs.org \
                   ORDER BY d.organization_id LIMIT 1), orgs.n + 1 \
           FROM orgs WHERE orgs.org IS NOT NULL AND orgs.n < {next} \
         ) SELECT org, COALESCE(( \
             SELECT TRUE FROM deliveries d \
             WHERE {CLAIMABLE} AND d.organization_id = orgs.org \
               AND d.next_attempt_at <= {at} \
               AND (d.lease_until IS NULL OR d.lease_until <= {at}) \
             ORDER BY d.organization_id, d.next_attempt_at LIMIT 1 \
           ), FALSE) AS claimable \
         FROM orgs WHERE org IS NOT NULL ORDER BY org"
    );
    let start = after.map_or(Uuid::nil(), |o| o.as_uuid());
    Statement::from_sql_and_values(
        backend,
        sql,
        [start.into(), (limit as i64).into(), now.into()],
    )
}
