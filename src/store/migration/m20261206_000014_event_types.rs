//! The event catalogue becomes data: one row per type, shared by every
//! organization, the 13 built-in types written here. Subscriptions and
//! events keep naming their type by its text, so nothing else changes.

use sea_orm_migration::{prelude::*, schema::*};

use crate::domain::catalogue::own;
use crate::domain::event_type::BUILT_IN;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The schema and the example are JSON text: nothing queries into
        // them, and both backends store text alike.
        manager
            .create_table(
                Table::create()
                    .table(EventTypes::Table)
                    .if_not_exists()
                    .col(text(EventTypes::Name).primary_key())
                    .col(text(EventTypes::Description))
                    .col(text_null(EventTypes::Schema))
                    .col(text_null(EventTypes::Example))
                    .col(boolean(EventTypes::Deprecated))
                    .col(boolean(EventTypes::Archived))
                    .col(boolean(EventTypes::BuiltIn))
                    .col(text(EventTypes::CreatedBy))
                    .col(text(EventTypes::UpdatedBy))
                    .col(timestamp_with_time_zone(EventTypes::CreatedAt))
                    .col(timestamp_with_time_zone(EventTypes::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Microseconds: what PostgreSQL keeps, on SQLite too.
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
        let mut insert = Query::insert();
        insert.into_table(EventTypes::Table).columns([
            EventTypes::Name,
            EventTypes::Description,
            EventTypes::Schema,
            EventTypes::Example,
            EventTypes::Deprecated,
            EventTypes::Archived,
            EventTypes::BuiltIn,
            EventTypes::CreatedBy,
            EventTypes::UpdatedBy,
            EventTypes::CreatedAt,
            EventTypes::UpdatedAt,
        ]);
        for (name, description) in BUILT_IN {
            let (schema, example) = match own::documents(name) {
                Some((schema, example)) => (Some(schema.to_string()), Some(example.to_string())),
                None => (None, None),
            };
            insert.values_panic([
                name.into(),
                description.into(),
                schema.into(),
                example.into(),
                false.into(),
                false.into(),
                true.into(),
                "".into(),
                "".into(),
                now.into(),
                now.into(),
            ]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(EventTypes::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum EventTypes {
    Table,
    Name,
    Description,
    Schema,
    Example,
    Deprecated,
    Archived,
    BuiltIn,
    CreatedBy,
    UpdatedBy,
    CreatedAt,
    UpdatedAt,
}
