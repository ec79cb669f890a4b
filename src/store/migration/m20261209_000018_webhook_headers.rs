//! A webhook may send headers of its own with every attempt: JSON of
//! `[{name, plain, value, len}]`, each value sealed unless plain (see
//! `store::headers`). NULL for none.

use sea_orm_migration::prelude::*;

use super::{add_webhook_text_columns, drop_webhook_columns};

/// Added to `webhooks`, all nullable text.
const COLUMNS: &[&str] = &["headers"];

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
