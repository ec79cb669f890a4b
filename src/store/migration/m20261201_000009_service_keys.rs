//! Keys the service makes for itself and every replica on the database
//! shares, such as the one portal tokens are signed with when
//! WEBHOOK_PORTAL_KEY is not set.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServiceKeys::Table)
                    .if_not_exists()
                    .col(text(ServiceKeys::Name).primary_key())
                    .col(blob(ServiceKeys::Key))
                    .col(timestamp_with_time_zone(ServiceKeys::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServiceKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ServiceKeys {
    Table,
    Name,
    Key,
    CreatedAt,
}
