//! Limits per webhook that hold across processes on one PostgreSQL: each
//! rate-limited webhook's next free turn, and the processes alive now, which
//! split the cap on requests in flight to one endpoint between them. SQLite
//! has one process, which keeps both in memory: the tables are not made
//! there.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // A deleted webhook's turn goes with it.
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS webhook_turns ( \
               webhook_id uuid PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE, \
               next_turn timestamptz NOT NULL)",
        )
        .await?;
        // `settled_as_of`: the membership read whose shares the process's
        // requests in flight are within (NULL while some exceed them).
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS delivery_processes ( \
               id uuid PRIMARY KEY, \
               joined_at timestamptz NOT NULL, \
               expires_at timestamptz NOT NULL, \
               settled_as_of timestamptz)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS delivery_processes")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS webhook_turns")
            .await?;
        Ok(())
    }
}
