//! Pausing, describing and rotating webhooks.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            text(Webhooks::Description).default("").to_owned(),
            boolean(Webhooks::Enabled).default(true).to_owned(),
            text_null(Webhooks::PreviousSecret).to_owned(),
            timestamp_with_time_zone_null(Webhooks::PreviousSecretExpiresAt).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhooks::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // Retention deletes finished deliveries by age.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (updated_at) \
                 WHERE status <> 'pending'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Webhooks::Description,
            Webhooks::Enabled,
            Webhooks::PreviousSecret,
            Webhooks::PreviousSecretExpiresAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhooks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Description,
    Enabled,
    PreviousSecret,
    PreviousSecretExpiresAt,
}
