//! Pausing, resuming, deleting and disabling a webhook write a bounded
//! batch of its deliveries in their own transaction; a webhook with more
//! to mark, unmark or cancel gets a row here, and the sweeper
//! (`store::sweeps`) finishes the work in short transactions of its own. Before, the pause's transaction marked every
//! pending delivery at once: a million of them held SQLite's one writer
//! (every organization's work) for most of a minute.
//!
//! No foreign key to `webhooks`: a cascade from deleting a webhook would
//! wait for a sweeper holding the row, which waits for the webhook's row
//! the delete holds. For a webhook that is gone, the sweeper cancels what
//! the delete left pending, then drops the row.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `after`: the last delivery id brought in line, in id order; the
        // next batch starts past it (NULL: from the first).
        manager
            .create_table(
                Table::create()
                    .table(WebhookSweeps::Table)
                    .if_not_exists()
                    .col(uuid(WebhookSweeps::WebhookId).primary_key())
                    .col(uuid(WebhookSweeps::OrganizationId))
                    .col(uuid_null(WebhookSweeps::After))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(WebhookSweeps::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookSweeps {
    Table,
    WebhookId,
    OrganizationId,
    After,
}
