//! A webhook may limit how many deliveries a second it receives.

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
                    .add_column(big_integer(Webhooks::RateLimitPerSecond).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .drop_column(Webhooks::RateLimitPerSecond)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    RateLimitPerSecond,
}
