//! A webhook signs with HMAC (`hmac-sha256`, every webhook so far) or
//! ed25519. An ed25519 webhook's private key sits in the sealed `secret`
//! column like any secret; its public key is kept in clear beside it, so
//! reading a webhook need not open the sealed key.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .add_column(text(Webhooks::SignatureScheme).default("hmac-sha256"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .add_column(text_null(Webhooks::PublicKey))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Webhooks::PublicKey, Webhooks::SignatureScheme] {
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
    SignatureScheme,
    PublicKey,
}
