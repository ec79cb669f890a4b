//! A webhook may carry its own retry schedule: the waits between attempts
//! in milliseconds, comma-separated (`100,200`). NULL for the service's
//! default.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .add_column(text_null(Webhooks::RetrySchedule))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .drop_column(Webhooks::RetrySchedule)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    RetrySchedule,
}
