//! Every rotation's previous secret keeps signing for its whole grace period:
//! one JSON list instead of a single previous secret.

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};

use crate::store::rotation;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .add_column(text_null(Webhooks::PreviousSecrets))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, previous_secret, previous_secret_expires_at FROM webhooks \
                 WHERE previous_secret IS NOT NULL AND previous_secret_expires_at IS NOT NULL",
            ))
            .await?;
        for row in rows {
            let id: uuid::Uuid = row.try_get("", "id")?;
            let secret: String = row.try_get("", "previous_secret")?;
            let until: chrono::DateTime<chrono::Utc> =
                row.try_get("", "previous_secret_expires_at")?;
            let update = Query::update()
                .table(Webhooks::Table)
                .value(Webhooks::PreviousSecrets, rotation::single(secret, until))
                .and_where(Expr::col(Webhooks::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        // SQLite drops one column per ALTER TABLE.
        for column in [Webhooks::PreviousSecret, Webhooks::PreviousSecretExpiresAt] {
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
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
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .drop_column(Webhooks::PreviousSecrets)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    PreviousSecret,
    PreviousSecretExpiresAt,
    PreviousSecrets,
}
