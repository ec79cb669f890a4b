//! The claim path's plans on PostgreSQL as they run: prepared, so that
//! after a few executions the server may keep one generic plan that knows
//! none of the parameters, and on a skewed table (one organization holding
//! a backlog of retries due later, two others a few deliveries due now),
//! with statistics. `query_plans` checks the same statements on empty
//! tables with sequential scans off; this is what a dead endpoint's backlog
//! makes of them.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use serde_json::Value;

use crate::support::{Backend, postgres_available, spawn_app};
use webhook_service::store::plans;

/// Rows of the organization with the backlog: enough for the planner to
/// weigh a whole-table read against the indexes as it would with millions.
const BACKLOG: u32 = 20_000;

/// Deliveries of `organization`, `count` of them, due at `due` (SQL).
fn deliveries(organization: &str, count: u32, due: &str) -> String {
    format!(
        "INSERT INTO deliveries (id, event_id, webhook_id, organization_id, status, attempts, \
           next_attempt_at, created_at, updated_at) \
         SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), '{organization}', \
           'pending', 1, {due}, now(), now() \
         FROM generate_series(1, {count})"
    )
}

/// The dead endpoint's webhook, in the organization with the backlog.
const DEAD: &str = "50000000-0000-0000-0000-0000000000a1";

/// Besides: the dead endpoint's own backlog, ordered (100 sequences, each
/// head due in an hour, the rest behind it), as many deliveries it
/// delivered before, finished now with an attempt each, and as many
/// events of that organization, published now.
fn dead_endpoint() -> [String; 4] {
    let backlog = "50000000-0000-0000-0000-000000000000";
    [
        format!(
            "INSERT INTO deliveries (id, event_id, webhook_id, organization_id, status, \
               attempts, next_attempt_at, created_at, updated_at, ordering_key, sequence, behind) \
             SELECT gen_random_uuid(), gen_random_uuid(), '{DEAD}', '{backlog}', 'pending', 1, \
               now() + interval '1 hour', now(), now(), 'k' || (n % 100), n, n >= 100 \
             FROM generate_series(0, {BACKLOG}) AS n"
        ),
        format!(
            "INSERT INTO deliveries (id, event_id, webhook_id, organization_id, status, \
               attempts, next_attempt_at, created_at, updated_at) \
             SELECT gen_random_uuid(), gen_random_uuid(), '{DEAD}', '{backlog}', 'succeeded', \
               1, now(), now(), now() \
             FROM generate_series(1, {BACKLOG})"
        ),
        "INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms) \
         SELECT gen_random_uuid(), id, 1, now(), 10 FROM deliveries WHERE status = 'succeeded'"
            .to_owned(),
        // Ids as the service makes them, UUIDv7: in the order of creation,
        // as the rows lie in the table.
        format!(
            "INSERT INTO events (id, organization_id, event_type, body, created_at) \
             SELECT (lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint + n), 12, '0') \
                     || '70008' || lpad(to_hex(n), 15, '0'))::uuid, \
               '{backlog}', 'member.added', '{{}}', now() \
             FROM generate_series(1, {BACKLOG}) AS n"
        ),
    ]
}

/// The sequential scans in the generic plan of the store's statement
/// `name`, executed with `arguments` (SQL literals: EXPLAIN takes no bound
/// parameters), on a backlog that one organization holds.
async fn scans_in_generic_plan(name: &str, arguments: &str) -> Vec<Value> {
    scans_in_generic_plan_typed(name, "", arguments).await
}

/// The store's statement `name`.
fn statement(name: &str) -> Statement {
    plans::statements(DbBackend::Postgres)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, statement)| statement)
        .unwrap_or_else(|| panic!("no statement {name}"))
}

/// Fills the app's tables with the skewed rows, with statistics.
async fn skew(txn: &DatabaseTransaction) {
    // The rows stand alone: no event or webhook behind them, so the
    // foreign keys' triggers are off for this transaction.
    txn.execute_unprepared("SET LOCAL session_replication_role = replica")
        .await
        .unwrap();
    for sql in [
        deliveries(
            "50000000-0000-0000-0000-000000000000",
            BACKLOG,
            "now() + interval '1 hour'",
        ),
        deliveries("10000000-0000-0000-0000-000000000000", 20, "now()"),
        deliveries("90000000-0000-0000-0000-000000000000", 20, "now()"),
    ]
    .into_iter()
    .chain(dead_endpoint())
    .chain(["ANALYZE deliveries, delivery_attempts, events".to_owned()])
    {
        txn.execute_unprepared(&sql).await.unwrap();
    }
}

/// The same, with the parameters' `types` (`(uuid, text)`) where nothing in
/// the statement tells them (a list of VALUES).
async fn scans_in_generic_plan_typed(name: &str, types: &str, arguments: &str) -> Vec<Value> {
    let app = spawn_app(Backend::Postgres).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let statement = statement(name);
    let txn = db.begin().await.unwrap();
    skew(&txn).await;
    for sql in [
        format!("PREPARE look{types} AS {}", statement.sql),
        "SET LOCAL plan_cache_mode = force_generic_plan".to_owned(),
    ] {
        txn.execute_unprepared(&sql).await.unwrap();
    }
    let explain = Statement::from_string(
        DbBackend::Postgres,
        format!("EXPLAIN (FORMAT JSON) EXECUTE look({arguments})"),
    );
    let row = txn.query_one_raw(explain).await.unwrap().unwrap();
    let json: Value = row.try_get("", "QUERY PLAN").unwrap();
    txn.rollback().await.unwrap();
    db.close().await.unwrap();
    let mut scans = Vec::new();
    collect_scans(&json[0]["Plan"], &mut scans);
    scans
}

/// The indexes read by the plan of each of the store's statements `names`,
/// with the values `store::plans` gives them, on the skewed table.
async fn indexes_on_skewed_table(names: &[&str]) -> Vec<(String, Vec<String>)> {
    let app = spawn_app(Backend::Postgres).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let txn = db.begin().await.unwrap();
    skew(&txn).await;
    let mut found = Vec::new();
    for name in names {
        let explain = Statement {
            sql: format!("EXPLAIN (FORMAT JSON) {}", statement(name).sql),
            ..statement(name)
        };
        let row = txn.query_one_raw(explain).await.unwrap().unwrap();
        let json: Value = row.try_get("", "QUERY PLAN").unwrap();
        let mut indexes = Vec::new();
        collect_indexes(&json[0]["Plan"], &mut indexes);
        found.push((name.to_string(), indexes));
    }
    txn.rollback().await.unwrap();
    db.close().await.unwrap();
    found
}

fn collect_indexes(node: &Value, into: &mut Vec<String>) {
    if let Some(index) = node["Index Name"].as_str() {
        into.push(index.to_owned());
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        collect_indexes(child, into);
    }
}

fn collect_scans(node: &Value, into: &mut Vec<Value>) {
    if node["Node Type"].as_str() == Some("Seq Scan") {
        let mut shown = node.clone();
        shown.as_object_mut().unwrap().remove("Plans");
        into.push(shown);
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        collect_scans(child, into);
    }
}

/// Before, the test of whether an organization has work due now was an
/// `EXISTS`, which the generic plan turned into a read of the whole table
/// per organization: 25 to 78 ms a look with a million rows of backlog,
/// once a second while idle and at every claim round.
#[tokio::test]
async fn the_look_for_organizations_with_work_keeps_to_the_indexes_under_a_generic_plan() {
    if !postgres_available() {
        return;
    }
    let scans = scans_in_generic_plan(
        "organizations_with_pending",
        "'00000000-0000-0000-0000-000000000000', 64, now()",
    )
    .await;
    assert!(scans.is_empty(), "reads the whole table: {scans:#?}");
}

/// Before, the claim leased `id IN (subquery)`, which the generic plan
/// made a hash join over the whole table: 197 ms a claim with a million
/// rows of backlog (1.8 ms as an array of ids).
#[tokio::test]
async fn the_claim_keeps_to_the_indexes_under_a_generic_plan() {
    if !postgres_available() {
        return;
    }
    let scans = scans_in_generic_plan(
        "claim_due",
        // Lease end, organization, now twice, a busy webhook, limit.
        "now() + interval '40 seconds', '10000000-0000-0000-0000-000000000000', now(), now(), \
         '00000000-0000-0000-0000-0000000000b1', 100",
    )
    .await;
    assert!(scans.is_empty(), "reads the whole table: {scans:#?}");
}

/// The other statements run often or over everything, each under a
/// generic plan: with the parameters here (any value: the plan knows none).
const OTHERS: [(&str, &str, &str); 7] = [
    // The backlog gauges, every few seconds, idle or not.
    (
        "backlog",
        "",
        "now(), '00000000-0000-0000-0000-000000000000'",
    ),
    // Publishing's and recording's look at ordered sequences.
    (
        "sequence head_check",
        "(uuid, text, uuid, text)",
        "'50000000-0000-0000-0000-0000000000a1', 'k1', \
         '50000000-0000-0000-0000-0000000000a1', 'k2'",
    ),
    (
        "sequence promote",
        "(uuid, text, uuid, text)",
        "'50000000-0000-0000-0000-0000000000a1', 'k1', \
         '50000000-0000-0000-0000-0000000000a1', 'k2'",
    ),
    // GetWebhookStats of the dead endpoint: its window, newest first.
    (
        "webhook_stats counts",
        "",
        "'50000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000000', 10001",
    ),
    (
        "webhook_stats last",
        "",
        "'50000000-0000-0000-0000-0000000000a1', 1",
    ),
    // Retention, a batch at a time.
    ("purge_deliveries", "", "now() - interval '30 days', 500"),
    (
        "purge_events",
        "",
        "'00000000-0000-0000-0000-000000000000', now() - interval '30 days', 500",
    ),
];

/// The backlog gauges, the sequences' head checks, a webhook's stats and
/// retention keep to their indexes too, whatever one organization or one
/// webhook holds.
#[tokio::test]
async fn the_gauges_sequences_stats_and_retention_keep_to_the_indexes_under_a_generic_plan() {
    if !postgres_available() {
        return;
    }
    for (name, types, arguments) in OTHERS {
        let scans = scans_in_generic_plan_typed(name, types, arguments).await;
        assert!(scans.is_empty(), "{name} reads a whole table: {scans:#?}");
    }
}

/// And the purge's deletion of attempts, by their deliveries.
#[tokio::test]
async fn the_purge_of_attempts_keeps_to_the_index_under_a_generic_plan() {
    if !postgres_available() {
        return;
    }
    let scans = scans_in_generic_plan_typed(
        "purge_deliveries attempts",
        "(uuid, uuid)",
        "gen_random_uuid(), gen_random_uuid()",
    )
    .await;
    assert!(scans.is_empty(), "reads the whole table: {scans:#?}");
}

/// A sweep's batch (a resume's unmarking, a disabling's or a delete's
/// cancels) writes its deliveries by primary key. `query_plans` checks the
/// same statements on empty tables, where PostgreSQL's costs tie between
/// the primary key and the partial index of deliveries not succeeded
/// (which a batch's `status = 'pending'` falls in): there the pick is
/// chance, here it is the planner's, with rows and statistics.
#[tokio::test]
async fn a_sweeps_batch_writes_its_deliveries_by_primary_key_on_a_skewed_table() {
    if !postgres_available() {
        return;
    }
    let names = [
        "sweep_batch enabled",
        "sweep_batch enabled unordered",
        "sweep_batch disabled",
        "sweep_batch deleted",
    ];
    for (name, indexes) in indexes_on_skewed_table(&names).await {
        assert!(
            !indexes.is_empty() && indexes.iter().all(|i| i == "deliveries_pkey"),
            "{name} reads {indexes:?}"
        );
    }
}
