//! A unit on a real SQLite file: what it holds back goes with the next
//! statement sent, its errors come with that one, and a unit left midway
//! gives the pool no half-done transaction.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, SqlErr, Statement,
    StatementBuilder, TransactionTrait,
};

use super::{Defer, Durability, Unit};
use crate::store::statements::StatementStats;

/// A database of one table `t (id, v)` on one pooled connection, as the
/// store's SQLite, and its statement counters.
async fn database(dir: &tempfile::TempDir) -> (DatabaseConnection, Arc<StatementStats>) {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("unit.db").display());
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let db = Database::connect(options).await.unwrap();
    db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .await
        .unwrap();
    (db, Arc::default())
}

async fn unit(db: &DatabaseConnection, stats: &Arc<StatementStats>) -> Unit {
    let unit = Unit::begin(db, stats, db.begin(), Durability::Full)
        .await
        .unwrap();
    assert!(matches!(unit, Unit::Together(_)), "SQLite sends together");
    unit
}

fn insert(rows: &[(i64, &str)]) -> sea_orm::sea_query::InsertStatement {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("t"))
        .columns([Alias::new("id"), Alias::new("v")]);
    for (id, v) in rows {
        insert.values_panic([(*id).into(), (*v).into()]);
    }
    insert
}

fn rename(id: i64, v: &str) -> sea_orm::sea_query::UpdateStatement {
    Query::update()
        .table(Alias::new("t"))
        .value(Alias::new("v"), v)
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned()
}

/// Every row of `t`, by id, read outside any unit.
async fn rows(db: &DatabaseConnection) -> Vec<(i64, String)> {
    let select = Statement::from_string(DbBackend::Sqlite, "SELECT id, v FROM t ORDER BY id");
    db.query_all_raw(select)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.try_get("", "id").unwrap(),
                row.try_get("", "v").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn held_statements_run_before_the_next_one_asked_and_their_counts_come_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = database(&dir).await;
    let unit = unit(&db, &stats).await;
    let mut returning = insert(&[(1, "a"), (2, "b")]);
    returning.returning_col(Alias::new("id"));
    let inserted = unit.defer(&returning).await.unwrap();
    let renamed = unit.defer(&rename(1, "c")).await.unwrap();
    let missed = unit.defer(&rename(99, "z")).await.unwrap();
    // Asked: the held statements ran first, in this transaction; only the
    // asked statement's rows come back (not the insert's RETURNING).
    let seen = unit
        .query_all(
            Query::select()
                .column(Alias::new("v"))
                .from(Alias::new("t"))
                .order_by(Alias::new("id"), sea_orm::Order::Asc),
        )
        .await
        .unwrap();
    let seen: Vec<String> = seen.iter().map(|r| r.try_get("", "v").unwrap()).collect();
    assert_eq!(seen, ["c", "b"]);
    let held_after = unit.defer(&insert(&[(3, "d")])).await.unwrap();
    let committed = unit.commit().await.unwrap();
    assert_eq!(committed.rows_affected(inserted), 2);
    assert_eq!(committed.rows_affected(renamed), 1);
    assert_eq!(committed.rows_affected(missed), 0);
    assert_eq!(committed.rows_affected(held_after), 1);
    assert_eq!(
        rows(&db).await,
        [(1, "c".into()), (2, "b".into()), (3, "d".into())]
    );
    // Counted as statements (BEGIN and COMMIT are not), as SeaORM counts.
    let counted: Vec<(&str, u64)> = stats.statements().into_iter().filter(|c| c.1 > 0).collect();
    assert_eq!(counted, [("select", 1), ("insert", 2), ("update", 2)]);
    assert_eq!(stats.write_transactions(), 1);
}

#[tokio::test]
async fn a_held_statement_fails_with_the_next_one_sent_and_its_unit_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = database(&dir).await;
    let first = unit(&db, &stats).await;
    first.defer(&insert(&[(1, "a")])).await.unwrap();
    first.commit().await.unwrap();

    let second = unit(&db, &stats).await;
    // Held: nothing is sent yet, so nothing fails yet.
    second.defer(&insert(&[(5, "e")])).await.unwrap();
    second.defer(&insert(&[(1, "again")])).await.unwrap();
    let err = second
        .execute(&rename(5, "f"))
        .await
        .expect_err("the held duplicate fails");
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{err:?}"
    );
    assert_eq!(stats.failed(), 1);
    second.rollback().await.unwrap();
    assert_eq!(rows(&db).await, [(1, "a".into())]);
    // The connection is usable again, with nothing left open on it.
    let third = unit(&db, &stats).await;
    third.defer(&insert(&[(2, "b")])).await.unwrap();
    third.commit().await.unwrap();
    assert_eq!(rows(&db).await, [(1, "a".into()), (2, "b".into())]);
}

#[tokio::test]
async fn a_unit_dropped_midway_commits_nothing_and_the_pool_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = database(&dir).await;
    // Dropped after its first text went out: its transaction is open.
    let dropped = unit(&db, &stats).await;
    dropped.defer(&insert(&[(1, "a")])).await.unwrap();
    dropped.execute(&rename(1, "b")).await.unwrap();
    drop(dropped);
    // Cancelled while its text is out: polled once, then dropped.
    let cancelled = unit(&db, &stats).await;
    cancelled.defer(&insert(&[(2, "c")])).await.unwrap();
    let asked = rename(2, "d");
    let _ = tokio::time::timeout(Duration::ZERO, cancelled.execute(&asked)).await;
    drop(cancelled);
    // The pool's one connection was closed, not handed on mid-transaction:
    // the next unit begins, writes and commits alone.
    let next = unit(&db, &stats).await;
    next.defer(&insert(&[(3, "e")])).await.unwrap();
    next.commit().await.unwrap();
    assert_eq!(rows(&db).await, [(3, "e".into())]);
}

/// The `synchronous` setting inside `db`: a unit's connection, or the
/// one a pool hands out next.
async fn synchronous(db: &impl ConnectionTrait) -> i32 {
    let pragma = Statement::from_string(DbBackend::Sqlite, "PRAGMA synchronous");
    let row = db.query_one_raw(pragma).await.unwrap().unwrap();
    row.try_get_by_index(0).unwrap()
}

async fn relaxed(db: &DatabaseConnection, stats: &Arc<StatementStats>) -> Unit {
    Unit::begin(db, stats, db.begin(), Durability::Relaxed)
        .await
        .unwrap()
}

/// 2 is FULL (a commit syncs the log), 1 NORMAL (it does not).
const FULL: i32 = 2;
const NORMAL: i32 = 1;

#[tokio::test]
async fn a_relaxed_unit_commits_without_syncing_and_gives_the_pool_back_synchronous() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = database(&dir).await;
    assert_eq!(synchronous(&db).await, FULL);
    let unit = relaxed(&db, &stats).await;
    unit.defer(&insert(&[(1, "a")])).await.unwrap();
    assert_eq!(synchronous(&unit).await, NORMAL);
    unit.commit().await.unwrap();
    assert_eq!(rows(&db).await, [(1, "a".into())]);
    assert_eq!(synchronous(&db).await, FULL);
    // Rolled back after a text went out: restored too.
    let unit = relaxed(&db, &stats).await;
    unit.execute(&rename(1, "b")).await.unwrap();
    unit.rollback().await.unwrap();
    assert_eq!(rows(&db).await, [(1, "a".into())]);
    assert_eq!(synchronous(&db).await, FULL);
}

#[tokio::test]
async fn a_relaxed_unit_that_fails_or_is_dropped_leaves_no_relaxed_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = database(&dir).await;
    // Its commit fails (a held duplicate): the restoring pragma after
    // COMMIT never ran.
    let unit = relaxed(&db, &stats).await;
    unit.defer(&insert(&[(1, "a"), (1, "again")]))
        .await
        .unwrap();
    assert!(unit.commit().await.is_err(), "the held duplicate fails");
    assert_eq!(synchronous(&db).await, FULL);
    // Dropped with its transaction open.
    let unit = relaxed(&db, &stats).await;
    unit.execute(&insert(&[(2, "b")])).await.unwrap();
    drop(unit);
    assert_eq!(synchronous(&db).await, FULL);
    assert_eq!(rows(&db).await, []);
}

#[tokio::test]
async fn a_numbered_parameter_binds_its_own_value_after_held_statements() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = database(&dir).await;
    let unit = unit(&db, &stats).await;
    unit.defer(&insert(&[(1, "a"), (2, "b")])).await.unwrap();
    // `?1` twice: the value of this statement, not the text's first.
    let numbered = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "SELECT v FROM t WHERE id = ?1 AND ?1 > 0",
        [2i64.into()],
    );
    let after = unit.defer(&rename(1, "c")).await.unwrap();
    let seen = unit.query_all_raw(numbered).await.unwrap();
    let seen: Vec<String> = seen.iter().map(|r| r.try_get("", "v").unwrap()).collect();
    assert_eq!(seen, ["b"]);
    let committed = unit.commit().await.unwrap();
    assert_eq!(committed.rows_affected(after), 1);
    assert_eq!(rows(&db).await, [(1, "c".into()), (2, "b".into())]);
}

#[test]
fn a_numbered_statement_goes_in_a_text_without_other_values() {
    let plain = |n: i64| {
        let stmt = insert(&[(n, "x")]);
        (
            StatementBuilder::build(&stmt, &DbBackend::Sqlite),
            super::trip::Role::Held,
        )
    };
    let numbered = || {
        let sql = "SELECT ?1, ?1";
        let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, sql, [1i64.into()]);
        (stmt, super::trip::Role::Asked)
    };
    let control = |sql| {
        (
            Statement::from_string(DbBackend::Sqlite, sql),
            super::trip::Role::Control,
        )
    };
    let sizes = |held| -> Vec<usize> { super::trip::texts(held).iter().map(Vec::len).collect() };
    assert_eq!(
        sizes(vec![
            control("BEGIN"),
            plain(1),
            plain(2),
            control("COMMIT")
        ]),
        [4]
    );
    assert_eq!(
        sizes(vec![control("BEGIN"), numbered(), control("COMMIT")]),
        [3]
    );
    assert_eq!(
        sizes(vec![
            control("BEGIN"),
            plain(1),
            numbered(),
            plain(2),
            control("COMMIT")
        ]),
        [2, 1, 2]
    );
    assert_eq!(sizes(vec![numbered(), numbered()]), [1, 1]);
}
