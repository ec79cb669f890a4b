//! Schema migrations, run at start-up. Add a file per change; never edit one
//! that has shipped.

use sea_orm_migration::prelude::*;

mod m20261127_000001_create_webhooks;
mod m20261127_000002_create_events_and_deliveries;
mod m20261127_000003_manage_webhooks;
mod m20261129_000004_secret_history;
mod m20261129_000005_organization_queue;
mod m20261129_000006_auto_disable;
mod m20261130_000007_rate_limits;
mod m20261130_000008_subscriptions;
mod m20261201_000009_service_keys;
mod m20261205_000010_tenant_ranges;
mod m20261205_000011_paused_deliveries;
mod m20261205_000012_shared_limits;
mod m20261206_000013_webhook_sweeps;
mod m20261206_000014_event_types;
mod m20261206_000015_webhook_filters;
mod m20261207_000016_ordered_delivery;
mod m20261208_000017_retry_schedules;
mod m20261209_000018_webhook_headers;
mod m20261209_000019_signature_schemes;
mod m20261209_000020_client_certificates;
mod m20261209_000021_oauth2_credentials;
mod m20261210_000022_event_trace_context;
mod m20261211_000023_delivery_indexes;
mod m20261212_000024_event_deliveries_left;
mod m20261213_000025_listing_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_webhooks::Migration),
            Box::new(m20261127_000002_create_events_and_deliveries::Migration),
            Box::new(m20261127_000003_manage_webhooks::Migration),
            Box::new(m20261129_000004_secret_history::Migration),
            Box::new(m20261129_000005_organization_queue::Migration),
            Box::new(m20261129_000006_auto_disable::Migration),
            Box::new(m20261130_000007_rate_limits::Migration),
            Box::new(m20261130_000008_subscriptions::Migration),
            Box::new(m20261201_000009_service_keys::Migration),
            Box::new(m20261205_000010_tenant_ranges::Migration),
            Box::new(m20261205_000011_paused_deliveries::Migration),
            Box::new(m20261205_000012_shared_limits::Migration),
            Box::new(m20261206_000013_webhook_sweeps::Migration),
            Box::new(m20261206_000014_event_types::Migration),
            Box::new(m20261206_000015_webhook_filters::Migration),
            Box::new(m20261207_000016_ordered_delivery::Migration),
            Box::new(m20261208_000017_retry_schedules::Migration),
            Box::new(m20261209_000018_webhook_headers::Migration),
            Box::new(m20261209_000019_signature_schemes::Migration),
            Box::new(m20261209_000020_client_certificates::Migration),
            Box::new(m20261209_000021_oauth2_credentials::Migration),
            Box::new(m20261210_000022_event_trace_context::Migration),
            Box::new(m20261211_000023_delivery_indexes::Migration),
            Box::new(m20261212_000024_event_deliveries_left::Migration),
            Box::new(m20261213_000025_listing_indexes::Migration),
        ]
    }
}

/// Adds nullable text `columns` to `webhooks`, one statement each: SQLite
/// adds one column per ALTER TABLE.
async fn add_webhook_text_columns(
    manager: &SchemaManager<'_>,
    columns: &[&'static str],
) -> Result<(), DbErr> {
    for column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhooks"))
                    .add_column(sea_orm_migration::schema::text_null(Alias::new(*column)))
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops `columns` from `webhooks`, one statement each, last first.
async fn drop_webhook_columns(
    manager: &SchemaManager<'_>,
    columns: &[&'static str],
) -> Result<(), DbErr> {
    for column in columns.iter().rev() {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhooks"))
                    .drop_column(Alias::new(*column))
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// An index as it was (`down`), and as it becomes (`up`; `None`: gone).
type IndexChange = (&'static str, &'static str, Option<&'static str>);

/// Drops each index of `changes`, then creates it as it becomes (`up`) or
/// as it was (`down`).
async fn change_indexes(
    manager: &SchemaManager<'_>,
    changes: &[IndexChange],
    up: bool,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for (name, before, after) in changes {
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
            .await?;
        if let Some(create) = if up { *after } else { Some(*before) } {
            db.execute_unprepared(create).await?;
        }
    }
    Ok(())
}
