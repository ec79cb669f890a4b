//! Publishing reads only the webhooks subscribed to its event's type: an
//! index of subscriptions by organization and event type, one row per
//! webhook and type in its `events`, filled here from the webhooks there are.

use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .if_not_exists()
                    .col(uuid(Subscriptions::OrganizationId))
                    .col(text(Subscriptions::EventType))
                    .col(uuid(Subscriptions::WebhookId))
                    .primary_key(
                        Index::create()
                            .col(Subscriptions::OrganizationId)
                            .col(Subscriptions::EventType)
                            .col(Subscriptions::WebhookId),
                    )
                    // Whatever deletes a webhook deletes its subscriptions.
                    .foreign_key(
                        ForeignKey::create()
                            .name("subscriptions_webhook_fk")
                            .from(Subscriptions::Table, Subscriptions::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // For that cascade and for changes of a webhook's events: without
        // it, each would scan the table.
        manager
            .create_index(
                Index::create()
                    .name("subscriptions_webhook")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::WebhookId)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // `events` is a JSON list of type names (jsonb on PostgreSQL, text
        // on SQLite). DISTINCT: nothing ever checked that lists written by
        // hand hold no repeats.
        let elements = match db.get_database_backend() {
            DbBackend::Postgres => "jsonb_array_elements_text(w.events) AS e(value)",
            _ => "json_each(w.events) AS e",
        };
        db.execute_unprepared(&format!(
            "INSERT INTO subscriptions (organization_id, event_type, webhook_id) \
             SELECT DISTINCT w.organization_id, e.value, w.id FROM webhooks w, {elements}"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    OrganizationId,
    EventType,
    WebhookId,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
}
