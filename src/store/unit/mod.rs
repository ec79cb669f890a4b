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
use std::time::Instant;

use futures_util::TryStreamExt;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sea_orm::sqlx::{self, Either, Executor, Sqlite};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, RuntimeErr, Statement, StatementBuilder,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

use super::statements::StatementStats;

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
        Ok(Self::Together(Mutex::new(Trip::new(conn, stats))))
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

/// What a statement of a text is there for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// BEGIN, COMMIT, ROLLBACK: not counted as statements, answers unread.
    Control,
    /// Held back: its rows changed are kept, in order.
    Held,
    /// The last of the text: its answer is returned.
    Asked,
}

/// A SQLite write transaction on a connection of its own: the statements
/// held back since the last text was sent, BEGIN first.
pub(super) struct Trip {
    conn: PoolConnection<Sqlite>,
    held: Text,
    /// The rows each held-back statement changed, once sent.
    changed: Vec<u64>,
    /// Held back so far, sent or not: the next one's index.
    deferred: usize,
    /// Whether a transaction may be open on the connection: BEGIN went
    /// out, and no COMMIT or ROLLBACK came back. A trip dropped so (an
    /// error, a cancelled call) closes its connection, which rolls back,
    /// instead of giving the pool a transaction half done.
    open: bool,
    stats: Arc<StatementStats>,
}

impl Trip {
    fn new(conn: PoolConnection<Sqlite>, stats: &Arc<StatementStats>) -> Self {
        Self {
            conn,
            held: vec![(control("BEGIN IMMEDIATE"), Role::Control)],
            changed: Vec::new(),
            deferred: 0,
            open: false,
            stats: Arc::clone(stats),
        }
    }

    fn hold(&mut self, stmt: Statement) -> Later {
        self.held.push((stmt, Role::Held));
        self.deferred += 1;
        Later::Held(self.deferred - 1)
    }

    /// Sends what is held back and `stmt`; answers `stmt`'s result and rows.
    async fn ask(&mut self, stmt: Statement) -> Result<(SqliteQueryResult, Vec<SqliteRow>), DbErr> {
        self.held.push((stmt, Role::Asked));
        self.send().await
    }

    async fn commit(mut self) -> Result<Committed, DbErr> {
        self.held.push((control("COMMIT"), Role::Control));
        self.send().await?;
        self.open = false;
        Ok(Committed {
            changed: std::mem::take(&mut self.changed),
        })
    }

    async fn rollback(mut self) -> Result<(), DbErr> {
        self.held.clear();
        if self.open {
            self.held.push((control("ROLLBACK"), Role::Control));
            self.send().await?;
            self.open = false;
        }
        Ok(())
    }

    /// Sends the statements held back, as one text where they can go as
    /// one (see [`texts`]); answers the last one's result and rows.
    async fn send(&mut self) -> Result<(SqliteQueryResult, Vec<SqliteRow>), DbErr> {
        let mut answer = Default::default();
        for text in texts(std::mem::take(&mut self.held)) {
            answer = self.send_text(text).await?;
        }
        Ok(answer)
    }

    /// Sends `held` as one text, in one hand-off to the connection's
    /// thread; answers the last statement's result and rows.
    async fn send_text(
        &mut self,
        held: Text,
    ) -> Result<(SqliteQueryResult, Vec<SqliteRow>), DbErr> {
        let mut sql = String::new();
        let mut values = Vec::new();
        let mut roles = Vec::with_capacity(held.len());
        for (stmt, role) in held {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            if stmt.sql.starts_with("BEGIN") {
                self.open = true;
            }
            sql.push_str(&stmt.sql);
            values.extend(stmt.values.map(|v| v.0).unwrap_or_default());
            roles.push((role, (role != Role::Control).then_some(stmt.sql)));
        }
        let started = Instant::now();
        // Each text is one combination of batch sizes: small ones repeat
        // (and preparing them anew cost more than the hand-offs saved),
        // large ones hold megabytes of prepared statements in the cache.
        let cached = values.len() <= CACHED_VALUES;
        let query = sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(Values(values)))
            .persistent(cached);
        let mut results = self.conn.fetch_many(query);
        let mut done = 0;
        let mut rows = Vec::new();
        let mut last = None;
        let outcome = loop {
            match results.try_next().await {
                Ok(Some(Either::Right(row))) => rows.push(row),
                Ok(Some(Either::Left(result))) => {
                    match roles[done].0 {
                        Role::Held => self.changed.push(result.rows_affected()),
                        Role::Asked => last = Some(result),
                        Role::Control => {}
                    }
                    done += 1;
                    if done < roles.len() {
                        rows.clear();
                    }
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        drop(results);
        // Counted as SeaORM counts its own: each statement, the text's time
        // shared among them.
        let counted = roles.iter().filter(|(_, sql)| sql.is_some()).count().max(1);
        let share = started.elapsed() / counted as u32;
        for (i, (_, sql)) in roles.iter().enumerate() {
            if let Some(sql) = sql {
                let failed = outcome.is_err() && i == done;
                if i <= done {
                    self.stats.count(sql, share, failed);
                }
            }
        }
        match outcome {
            Err(err) => Err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))),
            Ok(()) if done < roles.len() => Err(DbErr::Custom(format!(
                "SQLite answered {done} of the {} statements sent together",
                roles.len()
            ))),
            Ok(()) => Ok((last.unwrap_or_default(), rows)),
        }
    }
}

impl Drop for Trip {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// `held` cut into texts that sqlx binds right. It binds each plain `?`
/// to the next value of the whole text, but a numbered one (`?3`, which
/// a few hand-written statements use to repeat a value) to that value of
/// the whole text, without moving on: a numbered statement goes in a text
/// where no other statement has values.
fn texts(held: Text) -> Vec<Text> {
    // Per text: whether a statement of it is numbered, whether one has values.
    let mut texts: Vec<(Text, bool, bool)> = Vec::new();
    for (stmt, role) in held {
        let is_numbered = numbered(&stmt.sql);
        let valued = stmt.values.as_ref().is_some_and(|v| !v.0.is_empty());
        match texts.last_mut() {
            Some((text, has_numbered, has_values))
                if !(is_numbered && *has_values || *has_numbered && valued) =>
            {
                text.push((stmt, role));
                *has_numbered |= is_numbered;
                *has_values |= valued;
            }
            _ => texts.push((vec![(stmt, role)], is_numbered, valued)),
        }
    }
    texts.into_iter().map(|(text, _, _)| text).collect()
}

/// Statements sent, or to send, as one text.
type Text = Vec<(Statement, Role)>;

/// Whether `sql` has a numbered parameter (`?1`).
fn numbered(sql: &str) -> bool {
    sql.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'?' && w[1].is_ascii_digit())
}

/// A connection not had from the pool, as SeaORM reports it.
fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        err => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err))),
    }
}

fn control(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Sqlite, sql)
}

#[cfg(test)]
mod tests;
