//! An event keeps the W3C trace context it was published in
//! (`trace_context`: `traceparent`, a newline and `tracestate` when there
//! is one), so that its delivery attempts continue the publisher's trace.
//! NULL when traces were off or for events stored before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("events"))
                    .add_column(sea_orm_migration::schema::text_null(Alias::new(
                        "trace_context",
                    )))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("events"))
                    .drop_column(Alias::new("trace_context"))
                    .to_owned(),
            )
            .await
    }
}
