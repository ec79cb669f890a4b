//! A SQLite unit's connection and what it holds back (see the module
//! above): the texts it sends, and the durability of its commit.

use std::sync::Arc;
use std::time::Instant;

use futures_util::TryStreamExt;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sea_orm::sqlx::{self, Either, Executor, Sqlite};
use sea_orm::{DbBackend, DbErr, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;

use super::{CACHED_VALUES, Committed, Durability, Later};
use crate::store::statements::StatementStats;

/// Sent before BEGIN of a relaxed trip, and its undoing after its COMMIT
/// or ROLLBACK, in the same texts: nothing else runs on the connection in
/// between.
const RELAX: &str = "PRAGMA synchronous = NORMAL";
const RESTORE: &str = "PRAGMA synchronous = FULL";

/// What a statement of a text is there for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// BEGIN, COMMIT, ROLLBACK, the durability's pragmas: not counted as
    /// statements, answers unread.
    Control,
    /// Held back: its rows changed are kept, in order.
    Held,
    /// The last of the text: its answer is returned.
    Asked,
}

/// A SQLite write transaction on a connection of its own: the statements
/// held back since the last text was sent, BEGIN first.
pub(in crate::store) struct Trip {
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
    ///
    /// [`RELAX`] goes in BEGIN's text and [`RESTORE`] in COMMIT's or
    /// ROLLBACK's, so only such a trip can leave its connection relaxed:
    /// closed, it never gives the pool's next transaction (a publish) a
    /// commit that does not wait for the disk.
    open: bool,
    durability: Durability,
    stats: Arc<StatementStats>,
}

impl Trip {
    pub(super) fn new(
        conn: PoolConnection<Sqlite>,
        stats: &Arc<StatementStats>,
        durability: Durability,
    ) -> Self {
        let mut held = Vec::with_capacity(2);
        if durability == Durability::Relaxed {
            held.push((control(RELAX), Role::Control));
        }
        held.push((control("BEGIN IMMEDIATE"), Role::Control));
        Self {
            conn,
            held,
            changed: Vec::new(),
            deferred: 0,
            open: false,
            durability,
            stats: Arc::clone(stats),
        }
    }

    pub(super) fn hold(&mut self, stmt: Statement) -> Later {
        self.held.push((stmt, Role::Held));
        self.deferred += 1;
        Later::Held(self.deferred - 1)
    }

    /// Sends what is held back and `stmt`; answers `stmt`'s result and rows.
    pub(super) async fn ask(
        &mut self,
        stmt: Statement,
    ) -> Result<(SqliteQueryResult, Vec<SqliteRow>), DbErr> {
        self.held.push((stmt, Role::Asked));
        self.send().await
    }

    pub(super) async fn commit(mut self) -> Result<Committed, DbErr> {
        self.held.push((control("COMMIT"), Role::Control));
        self.restore();
        self.send().await?;
        self.open = false;
        Ok(Committed {
            changed: std::mem::take(&mut self.changed),
        })
    }

    pub(super) async fn rollback(mut self) -> Result<(), DbErr> {
        self.held.clear();
        if self.open {
            self.held.push((control("ROLLBACK"), Role::Control));
            self.restore();
            self.send().await?;
            self.open = false;
        }
        Ok(())
    }

    /// After COMMIT or ROLLBACK, in the same text: the pool's setting back.
    fn restore(&mut self) {
        if self.durability == Durability::Relaxed {
            self.held.push((control(RESTORE), Role::Control));
        }
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
pub(super) fn texts(held: Text) -> Vec<Text> {
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
pub(super) type Text = Vec<(Statement, Role)>;

/// Whether `sql` has a numbered parameter (`?1`).
pub(super) fn numbered(sql: &str) -> bool {
    sql.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'?' && w[1].is_ascii_digit())
}

fn control(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Sqlite, sql)
}
