//! Which organizations have deliveries waiting, so that claims can take
//! each one's share instead of the oldest rows of whoever has the most.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::OrganizationId;

impl Store {
    /// Up to `limit` organizations with pending deliveries, in id order,
    /// starting after `after` (from the first when `None`). One index seek
    /// per organization, however many deliveries each has.
    pub async fn organizations_with_pending(
        &self,
        after: Option<OrganizationId>,
        limit: u64,
    ) -> Result<Vec<OrganizationId>, StoreError> {
        let backend = self.db.get_database_backend();
        let (first, next) = match backend {
            DbBackend::Postgres => ("$1", "$2"),
            _ => ("?1", "?2"),
        };
        let from = if after.is_some() { ">" } else { ">=" };
        // A loose index scan on `deliveries_organization_due`: each step
        // seeks the next organization id above the last one.
        let sql = format!(
            "WITH RECURSIVE orgs(org, n) AS ( \
               SELECT (SELECT organization_id FROM deliveries \
                       WHERE status = 'pending' AND organization_id {from} {first} \
                       ORDER BY organization_id LIMIT 1), 1 \
               UNION ALL \
               SELECT (SELECT d.organization_id FROM deliveries d \
                       WHERE d.status = 'pending' AND d.organization_id > orgs.org \
                       ORDER BY d.organization_id LIMIT 1), orgs.n + 1 \
               FROM orgs WHERE orgs.org IS NOT NULL AND orgs.n < {next} \
             ) SELECT org FROM orgs WHERE org IS NOT NULL"
        );
        let start = after.map_or(Uuid::nil(), |o| o.as_uuid());
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [start.into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.try_get("", "org")?;
                Ok(OrganizationId::from_uuid(id))
            })
            .collect()
    }
}
