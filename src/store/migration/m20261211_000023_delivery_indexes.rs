//! Fewer index entries written per delivery (issue 26): every index of
//! `deliveries` takes an entry when a delivery is published and, on
//! PostgreSQL, another when its status moves; `events` takes one per event.
//! Each index left is read by a statement of `store::plans` or kept for a
//! stated reason (tests/api/index_map.rs).
//!
//! - `deliveries_due (next_attempt_at)` served the backlog gauges alone:
//!   they now walk `deliveries_organization_due` (the claim's), one range
//!   per organization with claimable work.
//! - `events_created (created_at)` served event retention alone: an
//!   event's id is a UUIDv7 of its creation time, so the primary key gives
//!   the same range.
//! - `events_idempotency (organization_id, idempotency_key)` held an entry
//!   for every event, key or not; only keyed events are looked up or must
//!   be unique (NULLs never collide), so it keeps only those.

use sea_orm_migration::prelude::*;

use super::{IndexChange, change_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each index as it was and as it becomes.
const CHANGES: [IndexChange; 3] = [
    (
        "deliveries_due",
        "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) \
         WHERE status = 'pending' AND NOT paused AND NOT behind",
        None,
    ),
    (
        "events_created",
        "CREATE INDEX events_created ON events (created_at)",
        None,
    ),
    (
        "events_idempotency",
        "CREATE UNIQUE INDEX events_idempotency ON events (organization_id, idempotency_key)",
        Some(
            "CREATE UNIQUE INDEX events_idempotency ON events (organization_id, idempotency_key) \
             WHERE idempotency_key IS NOT NULL",
        ),
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
