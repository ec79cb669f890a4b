//! A write transaction whose statements travel to the database together
//! where they can (issue 26 item 3).
//!
//! sqlx drives a SQLite connection from a thread of its own and hands it
//! each statement, BEGIN and COMMIT included, one at a time; each hand-off
//! wakes that thread and then a tokio worker. Alone, a transaction of three
//! small writes took 240 µs of CPU as five hand-offs and 65 µs as one. On
//! SQLite a [`Unit`] therefore holds back BEGIN and each statement whose
//! answer the caller can wait for ([`Defer::defer`]), and sends them in one
//! text with the next statement it is asked to answer, or with COMMIT: a
//! publish takes two hand-offs (the subscribers read; the deliveries
//! written and committed), a batch of results one. sqlx runs such a text
//! in one command on its thread, binding the `?` parameters in order.
//! (docs/performance.md, "Issue 26, fifth day": a third fewer futex calls
//! and 7% less CPU per delivery at one endpoint.)
//!
//! On PostgreSQL a unit is SeaORM's transaction, each statement sent as it
//! comes: a text of several statements cannot carry bind parameters there.

use std::sync::Arc;

use sea_orm::sqlx;
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, RuntimeErr, Statement, StatementBuilder,
};
use tokio::sync::Mutex;

use super::statements::StatementStats;

mod trip;

use trip::Trip;

/// The most values a text may bind and still be kept prepared in the
/// connection's statement cache.
const CACHED_VALUES: usize = 512;

/// A statement held back: its rows changed, once the unit has sent it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Later {
    /// Sent at once (PostgreSQL, or a transaction that is not a unit).
    Changed(u64),
    /// The unit's n-th statement held back.
    Held(usize),
}

/// A transaction that can hold statements back until it sends the next one.
pub(super) trait Defer: ConnectionTrait {
    /// Runs `stmt` in this transaction, now or with the next statement
    /// sent: its error, if any, comes from that one (or from the commit).
    fn defer<S: StatementBuilder>(
        &self,
        stmt: &S,
    ) -> impl Future<Output = Result<Later, DbErr>> + Send;
}

impl Defer for DatabaseTransaction {
    async fn defer<S: StatementBuilder>(&self, stmt: &S) -> Result<Later, DbErr> {
        Ok(Later::Changed(self.execute(stmt).await?.rows_affected()))
    }
}

/// Whether a unit's commit waits for the disk. A relaxed one may be lost
/// with the machine, not with the process: on SQLite in WAL mode its
/// commit writes the log without syncing it (`synchronous = NORMAL`, set
/// on the unit's connection around its transaction), and the next commit
/// that waits for the disk syncs it too. On PostgreSQL the pool a unit
/// begins on decides (the relaxed pool has `synchronous_commit = off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    Full,
    Relaxed,
}

/// A write transaction: on SQLite the held-back statements of [`Trip`], on
/// PostgreSQL SeaORM's.
pub(super) enum Unit {
    Each(DatabaseTransaction),
    Together(Mutex<Trip>),
}

/// What a committed unit tells of its held-back statements.
pub(super) struct Committed {
    changed: Vec<u64>,
}

impl Committed {
    /// The rows `later` changed.
    pub(super) fn rows_affected(&self, later: Later) -> u64 {
        match later {
            Later::Changed(n) => n,
            Later::Held(i) => self.changed[i],
        }
    }
}

impl Unit {
    /// Begins a unit on SQLite's pool (`db`), or `begin` on PostgreSQL.
    pub(super) async fn begin(
        db: &DatabaseConnection,
        stats: &Arc<StatementStats>,
        begin: impl Future<Output = Result<DatabaseTransaction, DbErr>>,
        durability: Durability,
    ) -> Result<Self, DbErr> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(Self::Each(begin.await?));
        }
        let conn = db
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(acquire_error)?;
        stats.write_transaction_begun();
        Ok(Self::Together(Mutex::new(Trip::new(
            conn, stats, durability,
        ))))
    }

    /// Commits, sending what is held back with the COMMIT.
    pub(super) async fn commit(self) -> Result<Committed, DbErr> {
        match self {
            Self::Each(txn) => {
                txn.commit().await?;
                Ok(Committed {
                    changed: Vec::new(),
                })
            }
            Self::Together(trip) => trip.into_inner().commit().await,
        }
    }

    /// Rolls back; what is held back is never sent.
    pub(super) async fn rollback(self) -> Result<(), DbErr> {
        match self {
            Self::Each(txn) => txn.rollback().await,
            Self::Together(trip) => trip.into_inner().rollback().await,
        }
    }
}

impl Defer for Unit {
    async fn defer<S: StatementBuilder>(&self, stmt: &S) -> Result<Later, DbErr> {
        match self {
            Self::Each(txn) => txn.defer(stmt).await,
            Self::Together(trip) => Ok(trip.lock().await.hold(stmt.build(&DbBackend::Sqlite))),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Unit {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::Each(txn) => txn.get_database_backend(),
            Self::Together(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Each(txn) => txn.execute_raw(stmt).await,
            Self::Together(trip) => Ok(trip.lock().await.ask(stmt).await?.0.into()),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Each(txn) => txn.execute_unprepared(sql).await,
            Self::Together(_) => {
                self.execute_raw(Statement::from_string(DbBackend::Sqlite, sql))
                    .await
            }
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Each(txn) => txn.query_one_raw(stmt).await,
            Self::Together(trip) => {
                let rows = trip.lock().await.ask(stmt).await?.1;
                Ok(rows.into_iter().next().map(QueryResult::from))
            }
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Each(txn) => txn.query_all_raw(stmt).await,
            Self::Together(trip) => {
                let rows = trip.lock().await.ask(stmt).await?.1;
                Ok(rows.into_iter().map(QueryResult::from).collect())
            }
        }
    }
}

/// A connection not had from the pool, as SeaORM reports it.
fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        err => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err))),
    }
}

#[cfg(test)]
mod tests;
