//! The listing indexes of `deliveries` take no entry for a delivery that
//! succeeds (issue 26). Each index of `deliveries` takes an entry when a
//! delivery is published and, on PostgreSQL, another when its status moves;
//! the two that served ListDeliveries' status and event type filters took
//! four of a delivered webhook's twelve. Now three of the twelve go:
//! PostgreSQL's CPU per delivery in fan-out −20%, its WAL −18%
//! (docs/performance.md, "Issue 26, eighth day").
//!
//! - `deliveries_organization_status` keeps the deliveries not succeeded
//!   (pending, failed, cancelled): the ones an admin lists by status to
//!   debug an endpoint, read exactly, a page in one range. A delivery
//!   enters it pending and leaves it when it succeeds.
//! - `deliveries_organization_type` goes. A page filtered by event type (or
//!   by status succeeded, or by a webhook and another filter) reads a
//!   bounded window of the organization's (or the webhook's) newest
//!   deliveries and may come back short, even empty, with a token for the
//!   next window (`store::history`).

use sea_orm_migration::prelude::*;

use super::{IndexChange, change_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each index as it was and as it becomes.
const CHANGES: [IndexChange; 2] = [
    (
        "deliveries_organization_status",
        "CREATE INDEX deliveries_organization_status ON deliveries (organization_id, status, id)",
        Some(
            "CREATE INDEX deliveries_organization_status ON deliveries (organization_id, status, id) \
             WHERE status <> 'succeeded'",
        ),
    ),
    (
        "deliveries_organization_type",
        "CREATE INDEX deliveries_organization_type ON deliveries (organization_id, event_type, id)",
        None,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        change_indexes(manager, &CHANGES, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        change_indexes(manager, &CHANGES, false).await
    }
}
