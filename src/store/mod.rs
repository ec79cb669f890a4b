//! Persistence through SeaORM: SQLite embedded by default, PostgreSQL when
//! `DATABASE_URL` says so. Entities stay in here; callers get domain types.

mod attempts;
mod backlog;
mod changes;
mod claims;
mod client_certificates;
mod disabling;
mod entities;
mod error;
mod event_types;
mod events;
mod handoff;
mod headers;
mod history;
mod migration;
mod oauth2;
mod organizations;
mod pausing;
mod places;
pub mod plans;
mod probe;
mod processes;
mod registration;
mod releases;
mod retention;
mod rotation;
mod routing;
mod scoped;
mod secret_box;
mod sending;
mod sequences;
mod service_keys;
mod statements;
mod stats;
mod subscriptions;
mod sweeps;
mod test_events;
#[cfg(test)]
mod tests;
mod turns;
mod unit;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use unit::{Durability, Unit};

pub use attempts::{AttemptRecord, Finished, Next};
pub use backlog::Backlog;
pub use changes::{Change, ChangeListener};
pub use claims::{Claimed, Claims, Lease};
pub use disabling::{Recorded, Recovered};
pub use error::StoreError;
pub use sending::Sending;
pub use statements::{STATEMENT_KINDS, StatementStats};

use crate::domain::filter::FilterCache;
pub use event_types::{CreateError, TypeChange, TypeChangeListener, UpdateError};
pub use events::Published;
pub use handoff::{HandOff, Tenant};
pub use history::{DeliveryFilter, Retried};
pub use organizations::PendingOrganizations;
pub use pausing::PAUSE_BATCH;
pub use probe::Probe;
pub use processes::{Heartbeat, Member};
pub use registration::{Created, Registration};
pub use routing::Filtered;
pub use secret_box::SecretBox;
pub use sweeps::Sweep;
pub use test_events::TestDelivery;
pub use turns::Turn;

/// The database handle the rest of the service goes through.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Where transactions whose commit need not wait for the disk run (see
    /// `relaxed_transaction`): on PostgreSQL a pool of their own, whose
    /// connections commit asynchronously, so that such a transaction costs
    /// no `SET` of its own; on SQLite the same connection as `db`.
    relaxed: DatabaseConnection,
    /// Where the health probe connects.
    probe: Arc<probe::Target>,
    secrets: SecretBox,
    /// Wakes this process's sweeper when a pause, a resume, a delete or a
    /// disable left it work (see `sweeps`).
    sweeps: Arc<tokio::sync::Notify>,
    /// The subscribers' filters, compiled, by their text (see `routing`).
    filters: FilterCache,
    /// What the store asked of its database (see `statements`).
    statements: Arc<StatementStats>,
}

/// The connections of the relaxed pool on PostgreSQL, besides the 16 of
/// the main one: the claims, the results, the sweeps and the turns of
/// this process's workers.
const RELAXED_CONNECTIONS: u32 = 8;

/// How many compiled filters a process keeps: an organization's 1,000
/// webhooks with a filter each fit several times over.
const CACHED_FILTERS: usize = 4096;

impl Store {
    /// Connects to `url` (`sqlite://...` or `postgres://...`) and brings the
    /// schema up to date.
    pub async fn connect(url: &str, secrets: SecretBox) -> anyhow::Result<Self> {
        // SQLite has one writer at a time; connections queueing in the pool
        // beat connections sleeping in SQLite's busy handler.
        let sqlite = url.starts_with("sqlite:");
        let connections = if sqlite { 1 } else { 16 };
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .max_connections(connections)
            // sqlx checks a connection as it hands it out, and again as it
            // takes it back. On SQLite each check is a hop to the
            // connection's thread and back, and one that fails at hand-out
            // would have failed at the last take-back already: only the
            // take-back's is kept (docs/performance.md, "Issue 26, seventh
            // day"). A PostgreSQL connection can break while it sits idle
            // (a server restart): checked at both.
            .test_before_acquire(!sqlite)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL keeps every committed event across a power loss.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    // A statement that changes many rows inside a transaction
                    // keeps the pages it changed in a sub-journal, to undo it
                    // alone; past 64 KiB SQLite spilled it to a temporary file
                    // (a name tried, created, unlinked, written, closed) on
                    // every batch of deliveries. In memory it is bounded by
                    // the pages one statement changes (every statement here
                    // is indexed, so no sort spills either).
                    .pragma("temp_store", "memory")
                    // Batched inserts differ in row count, so each size is its
                    // own statement, and a unit's text (see `unit`) each
                    // combination of sizes; a big cache of them holds
                    // megabytes (units keep only small texts prepared).
                    .statement_cache_capacity(64)
            })
            // Every statement here is an index lookup or a short range; JIT
            // compilation only ever fired on cost estimates inflated by a
            // large table (the backlog gauges beside a million retries:
            // 9-15 ms of compiling for a statement that runs in under 1).
            .map_sqlx_postgres_opts(|o| o.options([("jit", "off")]));
        let statements = Arc::new(StatementStats::default());
        let mut db = Database::connect(options.clone())
            .await
            .context("cannot connect to the database at DATABASE_URL")?;
        db.set_metric_callback(counting(&statements));
        migrate(&db)
            .await
            .context("cannot migrate the database schema")?;
        let relaxed = match db.get_database_backend() {
            DbBackend::Postgres => {
                options
                    .max_connections(RELAXED_CONNECTIONS)
                    // Replaces the function above: JIT stays off here too.
                    .map_sqlx_postgres_opts(|o| {
                        o.options([("jit", "off"), ("synchronous_commit", "off")])
                    });
                let mut relaxed = Database::connect(options)
                    .await
                    .context("cannot connect to the database at DATABASE_URL")?;
                relaxed.set_metric_callback(counting(&statements));
                relaxed
            }
            _ => db.clone(),
        };
        let probe = probe::Target::new(url, &db).context("DATABASE_URL")?;
        Ok(Self {
            db,
            relaxed,
            probe: Arc::new(probe),
            secrets,
            sweeps: Arc::default(),
            filters: FilterCache::new(CACHED_FILTERS),
            statements,
        })
    }

    /// What this store has asked of its database so far.
    pub fn statement_stats(&self) -> Arc<StatementStats> {
        Arc::clone(&self.statements)
    }

    /// True on the embedded SQLite backend, where one process owns the file.
    pub fn is_sqlite(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Sqlite
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// BEGIN: a deferred one that reads first can fail to upgrade when
    /// another connection wrote meanwhile, and no busy timeout helps then.
    async fn write_transaction(&self) -> Result<DatabaseTransaction, sea_orm::DbErr> {
        self.begin_writing(&self.db).await
    }

    /// A write transaction that sends its statements together where it can
    /// (see `unit`), otherwise as [`Store::write_transaction`].
    async fn write_unit(&self) -> Result<Unit, sea_orm::DbErr> {
        let begin = self.write_transaction();
        Unit::begin(&self.db, &self.statements, begin, Durability::Full).await
    }

    /// A transaction on `db` that will write, counted: see
    /// [`Store::write_transaction`].
    async fn begin_writing(
        &self,
        db: &DatabaseConnection,
    ) -> Result<DatabaseTransaction, sea_orm::DbErr> {
        self.statements.write_transaction_begun();
        db.begin_with_options(TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        })
        .await
    }

    /// A connection of its own that tells whether the database answers,
    /// without waiting behind the work on the pool's connections.
    pub fn probe(&self) -> Probe {
        Probe::new(probe::Target::clone(&self.probe))
    }
}

/// Counts each statement run on a connection into `statements`.
fn counting(statements: &Arc<StatementStats>) -> impl Fn(&sea_orm::metric::Info<'_>) + use<> {
    let statements = Arc::clone(statements);
    move |info| statements.count(&info.statement.sql, info.elapsed, info.failed)
}

/// Runs `attempt` again, up to five more times, while PostgreSQL ends it as
/// a collision (a deadlock, a serialization failure): for transactions
/// that lock many delivery rows, in an order results being recorded do
/// not share. `what` names it in the log.
async fn again_on_conflict<T, F>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, StoreError>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(StoreError::Conflict(err)) if tries < 5 => {
                tries += 1;
                tracing::debug!(error = %err, "{what} collided; again");
            }
            done => return done,
        }
    }
}

async fn migrate(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return migration::Migrator::up(db, None).await;
    }
    // Several processes may start at once on one PostgreSQL: one migrates,
    // the others wait on the lock and then find nothing left to do.
    let txn = db.begin().await?;
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(7305467001)")
        .await?;
    migration::Migrator::up(&txn, None).await?;
    txn.commit().await
}
