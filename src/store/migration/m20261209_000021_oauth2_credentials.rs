//! A webhook may carry OAuth2 client credentials toward its endpoint: the
//! settings as JSON (`oauth2`) and the client secret sealed
//! (`oauth2_secret`). NULL for none.

use sea_orm_migration::prelude::*;

use super::{add_webhook_text_columns, drop_webhook_columns};

/// Added to `webhooks`, all nullable text.
const COLUMNS: &[&str] = &["oauth2", "oauth2_secret"];

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
