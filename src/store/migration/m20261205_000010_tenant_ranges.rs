//! Every tenant-scoped listing reads an index range of its organization (or
//! its webhook) in page order, instead of every organization's rows: a
//! page costs a page, whoever else is stored (issue 19).
//!
//! Each index on `deliveries` is written when a delivery is published and,
//! on PostgreSQL, again whenever its status moves, so the set is small:
//! - `(organization_id, id)`: ListDeliveries unfiltered;
//! - `(organization_id, status, id)`: its status filter;
//! - `(organization_id, event_type, id)`: its event type filter, over the
//!   event type copied onto each delivery (below);
//! - `(webhook_id, id)` replaces `(webhook_id)`: the webhook filter in page
//!   order, and everything the old one served (deletes, pauses, recovery).
//!
//! The event type is copied onto deliveries rather than looked up in
//! `events`: filtering through `event_id IN (SELECT id FROM events WHERE
//! organization_id = ? AND event_type = ?)` costs as many rows as the
//! organization has of that type (a rare type in a big organization walks
//! all of its deliveries to fill a page), and on SQLite, with one
//! connection, every other organization waits meanwhile. The copy costs a
//! short text per delivery, written once (a delivery's event never
//! changes), and this backfill.
//!
//! Webhooks get `(organization_id, id)` for ListWebhooks in page order, and
//! events `(created_at)` for retention, which looked for old events by
//! reading them all.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 6] = [
    (
        "deliveries_organization",
        "deliveries (organization_id, id)",
    ),
    (
        "deliveries_organization_status",
        "deliveries (organization_id, status, id)",
    ),
    (
        "deliveries_organization_type",
        "deliveries (organization_id, event_type, id)",
    ),
    ("deliveries_webhook", "deliveries (webhook_id, id)"),
    ("webhooks_organization", "webhooks (organization_id, id)"),
    ("events_created", "events (created_at)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(text(Deliveries::EventType).default(""))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // A delivery whose event is gone (none should be) keeps '': what
        // the listings showed for it before.
        db.execute_unprepared(
            "UPDATE deliveries SET event_type = COALESCE( \
               (SELECT e.event_type FROM events e WHERE e.id = deliveries.event_id), '')",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS deliveries_webhook")
            .await?;
        for (name, on) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON {on}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS deliveries_webhook ON deliveries (webhook_id)",
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .drop_column(Deliveries::EventType)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    EventType,
}
