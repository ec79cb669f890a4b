use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .if_not_exists()
                    .col(uuid(Events::Id).primary_key())
                    .col(uuid(Events::OrganizationId))
                    .col(text(Events::EventType))
                    .col(text(Events::Body))
                    .col(text_null(Events::IdempotencyKey))
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("events_idempotency")
                    .table(Events::Table)
                    .col(Events::OrganizationId)
                    .col(Events::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .if_not_exists()
                    .col(uuid(Deliveries::Id).primary_key())
                    .col(uuid(Deliveries::EventId))
                    .col(uuid(Deliveries::WebhookId))
                    .col(uuid(Deliveries::OrganizationId))
                    .col(text(Deliveries::Status))
                    .col(integer(Deliveries::Attempts))
                    .col(timestamp_with_time_zone(Deliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Deliveries::LeaseUntil))
                    .col(text_null(Deliveries::LastError))
                    .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                    .col(timestamp_with_time_zone(Deliveries::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Claiming scans only what is pending, oldest due first.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at) \
                 WHERE status = 'pending'",
            )
            .await?;
        for (name, column) in [
            ("deliveries_event", Deliveries::EventId),
            ("deliveries_webhook", Deliveries::WebhookId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Deliveries::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .if_not_exists()
                    .col(uuid(DeliveryAttempts::Id).primary_key())
                    .col(uuid(DeliveryAttempts::DeliveryId))
                    .col(integer(DeliveryAttempts::Attempt))
                    .col(timestamp_with_time_zone(DeliveryAttempts::StartedAt))
                    .col(integer(DeliveryAttempts::DurationMs))
                    .col(integer_null(DeliveryAttempts::StatusCode))
                    .col(text_null(DeliveryAttempts::ErrorKind))
                    .col(text_null(DeliveryAttempts::ErrorMessage))
                    .col(text_null(DeliveryAttempts::ResponseExcerpt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("delivery_attempts_delivery")
                    .table(DeliveryAttempts::Table)
                    .col(DeliveryAttempts::DeliveryId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeliveryAttempts::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    OrganizationId,
    EventType,
    Body,
    IdempotencyKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    EventId,
    WebhookId,
    OrganizationId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    DeliveryId,
    Attempt,
    StartedAt,
    DurationMs,
    StatusCode,
    ErrorKind,
    ErrorMessage,
    ResponseExcerpt,
}
