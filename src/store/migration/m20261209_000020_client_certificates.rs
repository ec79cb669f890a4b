//! A webhook may carry a client certificate for mutual TLS toward its
//! endpoint: the chain in PEM, in clear (it is public), and its private key
//! sealed like the signing secret. Both NULL for none.

use sea_orm_migration::prelude::*;

use super::{add_webhook_text_columns, drop_webhook_columns};

/// Added to `webhooks`, all nullable text.
const COLUMNS: &[&str] = &["client_certificate_chain", "client_certificate_key"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_webhook_text_columns(manager, COLUMNS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_webhook_columns(manager, COLUMNS).await
    }
}
