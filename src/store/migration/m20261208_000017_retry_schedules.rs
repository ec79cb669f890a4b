//! A webhook may carry its own retry schedule: the waits between attempts
//! in milliseconds, comma-separated (`100,200`). NULL for the service's
//! default.

use sea_orm_migration::prelude::*;

use super::{add_webhook_text_columns, drop_webhook_columns};

/// Added to `webhooks`, all nullable text.
const COLUMNS: &[&str] = &["retry_schedule"];

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
