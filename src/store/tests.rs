//! How the store opens its database.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{SecretBox, Store};

/// A statement that changes many rows inside a transaction (a batch of
/// deliveries) keeps the pages it changed in a sub-journal; SQLite's
/// default spills one past 64 KiB to a temporary file, created and
/// unlinked on every such batch (docs/performance.md).
#[tokio::test]
async fn sqlite_keeps_its_sub_journals_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::connect(&url, SecretBox::new(None)).await.unwrap();
    let row = store
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA temp_store",
        ))
        .await
        .unwrap()
        .unwrap();
    // 0 is the build's default (files), 1 files, 2 memory.
    assert_eq!(row.try_get_by_index::<i32>(0).unwrap(), 2);
}

/// A SQLite connection is not checked as the pool hands it out: the check
/// is a hop to its thread and back on every transaction, and the pool's
/// check as it takes the connection back catches a broken one already
/// (docs/performance.md, "Issue 26, seventh day").
#[tokio::test]
async fn sqlite_connections_are_checked_once_per_use() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::connect(&url, SecretBox::new(None)).await.unwrap();
    let pool = store.db.get_sqlite_connection_pool();
    assert!(!pool.options().get_test_before_acquire());
}
