//! Ordered delivery (issue 23): an ordered webhook's deliveries of one
//! ordering key go out one at a time, in publish order. Each such delivery
//! carries its key and its place (`sequence`) in the sequence of its
//! (webhook, key); all but the lowest pending one wait `behind` it, out of
//! the partial indexes the claims read, so a claim only ever sees a
//! sequence's head. `delivery_sequences` numbers each sequence and is the
//! lock publishing and recording take on it (see `store::sequences`).
//!
//! Rebuilding the two claim indexes blocks writes to `deliveries` on
//! PostgreSQL while it runs (the CHANGELOG says so); the added columns have
//! constant defaults and rewrite nothing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The partial indexes of claimable deliveries, as migration 11 made them.
/// Their predicate must stay the text the claim path filters with
/// (`store::claims::CLAIMABLE`), or SQLite cannot use them.
const CLAIMABLE: [(&str, &str); 2] = [
    ("deliveries_due", "(next_attempt_at)"),
    (
        "deliveries_organization_due",
        "(organization_id, next_attempt_at)",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .add_column(boolean(Webhooks::Ordered).default(false))
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite adds only one at a time.
        for column in [
            text_null(Deliveries::OrderingKey),
            big_integer_null(Deliveries::Sequence),
            boolean(Deliveries::Behind).default(false).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(DeliverySequences::Table)
                    .if_not_exists()
                    .col(uuid(DeliverySequences::WebhookId))
                    .col(text(DeliverySequences::OrderingKey))
                    .col(big_integer(DeliverySequences::NextSequence))
                    .col(timestamp_with_time_zone(DeliverySequences::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(DeliverySequences::WebhookId)
                            .col(DeliverySequences::OrderingKey),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for (name, columns) in CLAIMABLE {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON deliveries {columns} \
                 WHERE status = 'pending' AND NOT paused AND NOT behind"
            ))
            .await?;
        }
        // A sequence's pending deliveries in order: its head is the first
        // entry, one seek. Small: it empties as sequences drain.
        db.execute_unprepared(
            "CREATE INDEX deliveries_sequence ON deliveries \
             (webhook_id, ordering_key, sequence) \
             WHERE status = 'pending' AND ordering_key IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS deliveries_sequence")
            .await?;
        for (name, columns) in CLAIMABLE {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON deliveries {columns} \
                 WHERE status = 'pending' AND NOT paused"
            ))
            .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(DeliverySequences::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        for column in [
            Deliveries::Behind,
            Deliveries::Sequence,
            Deliveries::OrderingKey,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .drop_column(Webhooks::Ordered)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Ordered,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    OrderingKey,
    Sequence,
    Behind,
}

#[derive(DeriveIden)]
enum DeliverySequences {
    Table,
    WebhookId,
    OrderingKey,
    NextSequence,
    UpdatedAt,
}
