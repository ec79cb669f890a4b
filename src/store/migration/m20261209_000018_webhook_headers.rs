//! A webhook may send headers of its own with every attempt: JSON of
//! `[{name, plain, value, len}]`, each value sealed unless plain (see
//! `store::headers`). NULL for none.

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
                    .add_column(text_null(Webhooks::Headers))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .drop_column(Webhooks::Headers)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Headers,
}
