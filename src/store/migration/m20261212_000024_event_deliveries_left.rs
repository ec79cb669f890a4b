//! Each event counts its deliveries left, and `deliveries_event` goes
//! (issue 26): event retention alone read that index (an event is kept
//! while a delivery of it is), and it took an entry for each delivery
//! published and another for each status move, 12% of PostgreSQL's CPU
//! per delivery in fan-out (docs/performance.md, "Issue 26, seventh day").
//!
//! A delivery is only ever created in its event's publish, so the publish
//! writes the count with the event, and delivery retention lowers it in
//! the transaction that deletes the deliveries; an event at 0 past the
//! cutoff is purged. NULL is "not counted": an event written by a process
//! of an older version while this one migrates. Such an event is kept
//! rather than purged from under its deliveries.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE events ADD COLUMN deliveries_left INTEGER")
            .await?;
        // Through the index, while it is still there.
        db.execute_unprepared(
            "UPDATE events SET deliveries_left = \
             (SELECT COUNT(*) FROM deliveries WHERE deliveries.event_id = events.id)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS deliveries_event")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX deliveries_event ON deliveries (event_id)")
            .await?;
        db.execute_unprepared("ALTER TABLE events DROP COLUMN deliveries_left")
            .await?;
        Ok(())
    }
}
