//! A paused webhook's pending deliveries leave the claim path while it is
//! paused: `paused` is set on them in the transaction that pauses the
//! webhook and cleared in the one that resumes it, and the partial indexes
//! the claims and the backlog gauge read leave them out. Before, they sat
//! in those indexes as due work, and every claim round and every backlog
//! reading read them again (and every organization's paused webhooks, to
//! skip them): a cost growing with the paused backlog, paid while idle.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The partial indexes of claimable deliveries. Their predicate must stay
/// the text the claim path filters with (`store::claims::CLAIMABLE`), or
/// SQLite cannot use them.
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
                    .table(Deliveries::Table)
                    .add_column(boolean(Deliveries::Paused).default(false))
                    .to_owned(),
            )
            .await?;
        // What is pending for a webhook paused now is paused.
        let paused_webhooks = Query::select()
            .column(Webhooks::Id)
            .from(Webhooks::Table)
            .and_where(Expr::col(Webhooks::Enabled).eq(false))
            .to_owned();
        let hold = Query::update()
            .table(Deliveries::Table)
            .value(Deliveries::Paused, true)
            .and_where(Expr::col(Deliveries::Status).eq("pending"))
            .and_where(Expr::col(Deliveries::WebhookId).in_subquery(paused_webhooks))
            .to_owned();
        let db = manager.get_connection();
        db.execute(&hold).await?;
        for (name, columns) in CLAIMABLE {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON deliveries {columns} \
                 WHERE status = 'pending' AND NOT paused"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, columns) in CLAIMABLE {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON deliveries {columns} WHERE status = 'pending'"
            ))
            .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .drop_column(Deliveries::Paused)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Status,
    WebhookId,
    Paused,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Enabled,
}
