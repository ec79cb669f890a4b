//! Every index of the tables written per delivery (`deliveries`,
//! `delivery_attempts`, `events`) is read by a statement of
//! `store::plans`, or kept for a reason written here: each index costs an
//! entry per row published and, on PostgreSQL, another per status change
//! of a delivery, so one no statement reads is pure cost (issue 26). The
//! plans are `query_plans`' (empty tables, sequential scans off); run with
//! `--nocapture` to see the map, index by index.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait};

use crate::on_every_backend;
use crate::query_plans::{indexes_read, plans};
use crate::support::{Backend, spawn_app};

on_every_backend!(
    every_index_of_the_delivery_tables_is_read_by_a_statement_or_kept_for_a_reason,
    a_look_up_of_idempotency_keys_reads_the_index_of_keyed_events,
);

const TABLES: [&str; 3] = ["deliveries", "delivery_attempts", "events"];

/// Indexes no EXPLAIN of `store::plans` can show the need of.
const KEPT: [(&str, &str); 2] = [
    // Unique: two events of an organization never share a key. Its reader,
    // the look-up of keys already published, is built in store::events.
    ("events_idempotency", "the uniqueness of idempotency keys"),
    // An attempt's identity; nothing looks one up by it.
    ("delivery_attempts_pkey", "the primary key"),
];

/// PostgreSQL's name for index `name`: SQLite calls a primary key
/// `sqlite_autoindex_<table>_1`.
fn canonical(name: &str) -> String {
    match name
        .strip_prefix("sqlite_autoindex_")
        .and_then(|n| n.strip_suffix("_1"))
    {
        Some(table) => format!("{table}_pkey"),
        None => name.to_owned(),
    }
}

/// The indexes of `TABLES` on the app's database, primary keys included.
async fn indexes(backend: Backend) -> BTreeSet<String> {
    let app = spawn_app(backend).await;
    let tables = TABLES.map(|t| format!("'{t}'")).join(", ");
    let sql = match backend {
        Backend::Sqlite => format!(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({tables})"
        ),
        Backend::Postgres => format!(
            "SELECT indexname AS name FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename IN ({tables})"
        ),
    };
    let rows = app.query(&sql).await;
    rows.iter()
        .map(|r| canonical(&r.try_get::<String>("", "name").unwrap()))
        .collect()
}

async fn every_index_of_the_delivery_tables_is_read_by_a_statement_or_kept_for_a_reason(
    backend: Backend,
) {
    let mut map: BTreeMap<String, Vec<String>> = indexes(backend)
        .await
        .into_iter()
        .map(|index| (index, Vec::new()))
        .collect();
    assert!(
        map.contains_key("deliveries_organization_due"),
        "no index found: {map:?}"
    );
    for (name, plan) in plans(backend, &[""]).await {
        for index in indexes_read(&plan) {
            if let Some(readers) = map.get_mut(&canonical(&index)) {
                readers.push(name.clone());
            }
        }
    }
    let mut unread = Vec::new();
    for (index, readers) in &mut map {
        readers.dedup();
        println!("{backend:?} {index}: {readers:?}");
        if readers.is_empty() && !KEPT.iter().any(|(name, _)| name == index) {
            unread.push(index.clone());
        }
    }
    assert!(
        unread.is_empty(),
        "no statement of store::plans reads {unread:?}: drop them, or say in KEPT why they stay"
    );
}

/// `events_idempotency` holds keyed events only (`WHERE idempotency_key IS
/// NOT NULL`): the look-up of keys already published, in the shape
/// store::events builds it, still reads it, on PostgreSQL in the generic
/// plan too (which knows no key, only that `IN` lets no NULL through).
async fn a_look_up_of_idempotency_keys_reads_the_index_of_keyed_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let look_up = "SELECT id, idempotency_key FROM events \
                   WHERE organization_id = $1 AND idempotency_key IN ($2, $3)";
    let txn = db.begin().await.unwrap();
    let lines = |rows: Vec<sea_orm::QueryResult>, column: &str| -> Vec<String> {
        rows.iter()
            .map(|r| r.try_get::<String>("", column).unwrap())
            .collect()
    };
    let plan = match backend {
        Backend::Sqlite => {
            let explain = format!("EXPLAIN QUERY PLAN {}", look_up.replace('$', "?"));
            lines(query(&txn, &explain).await, "detail")
        }
        Backend::Postgres => {
            // On an empty table a read of it all would look cheapest.
            for sql in [
                "SET LOCAL enable_seqscan = off",
                "SET LOCAL plan_cache_mode = force_generic_plan",
                &format!("PREPARE look_up(uuid, text, text) AS {look_up}"),
            ] {
                txn.execute_unprepared(sql).await.unwrap();
            }
            let explain = "EXPLAIN EXECUTE look_up(gen_random_uuid(), 'a', 'b')";
            lines(query(&txn, explain).await, "QUERY PLAN")
        }
    };
    txn.rollback().await.unwrap();
    db.close().await.unwrap();
    assert!(
        plan.iter().any(|l| l.contains("events_idempotency")),
        "{plan:#?}"
    );
}

async fn query(txn: &DatabaseTransaction, sql: &str) -> Vec<sea_orm::QueryResult> {
    let statement = Statement::from_string(txn.get_database_backend(), sql);
    txn.query_all_raw(statement).await.unwrap()
}
