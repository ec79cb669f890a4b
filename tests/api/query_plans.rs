//! The plans of the statements the store issues (the very statements, from
//! `store::plans`): every tenant-scoped listing is an index range scan on
//! the organization (or the webhook), read in page order; retention reads
//! index ranges by age; the claim path reads no webhook rows at all.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::Value;

use crate::on_every_backend;
use crate::support::{Backend, spawn_app};
use webhook_service::store::plans;

on_every_backend!(
    every_tenant_scoped_listing_is_an_index_range_scan_in_page_order,
    a_range_of_creation_times_narrows_the_index_range_by_id,
    a_webhooks_stats_read_a_bounded_range_of_its_own_index,
    retention_reads_index_ranges_by_age,
    the_claim_path_never_reads_the_webhooks,
    each_batch_of_a_sweep_reads_an_index_range_of_its_webhook_in_id_order,
    each_batch_of_a_sweep_writes_its_deliveries_by_primary_key,
    the_claim_reads_the_due_index_that_leaves_out_what_waits_behind_a_head,
    a_sequences_head_check_and_promotion_seek_the_sequence_index,
);

/// One statement's plan: SQLite's `EXPLAIN QUERY PLAN` lines, or the nodes
/// of PostgreSQL's `EXPLAIN (FORMAT JSON)` (with sequential scans and
/// sorts off, see below).
pub(crate) enum Plan {
    Sqlite(Vec<String>),
    Postgres(Vec<Value>),
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plan::Sqlite(lines) => write!(f, "{lines:#?}"),
            Plan::Postgres(nodes) => {
                for node in nodes {
                    let mut shown = node.clone();
                    shown.as_object_mut().unwrap().remove("Plans");
                    writeln!(f, "{shown}")?;
                }
                Ok(())
            }
        }
    }
}

/// Every statement of `store::plans` whose name starts with one of
/// `prefixes`, with its plan on the app's database.
pub(crate) async fn plans(backend: Backend, prefixes: &[&str]) -> Vec<(String, Plan)> {
    let app = spawn_app(backend).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for (name, statement) in plans::statements(backend) {
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let plan = match backend {
            DbBackend::Postgres => {
                let txn = db.begin().await.unwrap();
                // On tables this small the planner would rather read
                // everything, or sort the few rows it finds; with both
                // off, the plan shows whether an index gives the rows the
                // statement needs in the order it needs them. Hash joins
                // off too: on empty tables a hash anti-join over a whole
                // index looks cheaper than a seek per row (purge_events took
                // one once the deliveries' rows grew wider with ordering).
                txn.execute_unprepared(
                    "SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off; \
                     SET LOCAL enable_hashjoin = off",
                )
                .await
                .unwrap();
                let explain = explained("EXPLAIN (FORMAT JSON) ", &statement);
                let row = txn.query_one_raw(explain).await.unwrap().unwrap();
                let json: Value = row.try_get("", "QUERY PLAN").unwrap();
                txn.rollback().await.unwrap();
                let mut nodes = Vec::new();
                collect(&json[0]["Plan"], &mut nodes);
                Plan::Postgres(nodes)
            }
            _ => {
                let explain = explained("EXPLAIN QUERY PLAN ", &statement);
                let rows = db.query_all_raw(explain).await.unwrap();
                Plan::Sqlite(
                    rows.iter()
                        .map(|r| r.try_get::<String>("", "detail").unwrap())
                        .collect(),
                )
            }
        };
        found.push((name, plan));
    }
    db.close().await.unwrap();
    assert!(!found.is_empty(), "no statement starts with {prefixes:?}");
    found
}

fn explained(prefix: &str, statement: &Statement) -> Statement {
    Statement {
        sql: format!("{prefix}{}", statement.sql),
        ..statement.clone()
    }
}

/// The node and every node below it.
fn collect(node: &Value, into: &mut Vec<Value>) {
    into.push(node.clone());
    for child in node["Plans"].as_array().into_iter().flatten() {
        collect(child, into);
    }
}

fn text<'a>(node: &'a Value, key: &str) -> &'a str {
    node[key].as_str().unwrap_or("")
}

/// SQLite never scans a table (a common table expression's rows are no
/// table); PostgreSQL never scans one either, nor reads a whole index to
/// filter it afterwards.
fn assert_no_full_scan(name: &str, plan: &Plan) {
    match plan {
        Plan::Sqlite(lines) => {
            for line in lines {
                let scanned = line.strip_prefix("SCAN ");
                assert!(
                    scanned.is_none_or(|what| what.starts_with("orgs")
                            || what.starts_with("CONSTANT ROW")
                            // The sequences a statement names, listed in it.
                            || what.ends_with("-ROW VALUES CLAUSE")),
                    "{name} scans: {plan:?}"
                );
            }
        }
        Plan::Postgres(nodes) => {
            for node in nodes {
                assert!(
                    !text(node, "Node Type").contains("Seq Scan"),
                    "{name} scans a table: {plan:?}"
                );
                if node.get("Index Name").is_some() {
                    assert!(
                        node.get("Index Cond").is_some(),
                        "{name} reads a whole index: {plan:?}"
                    );
                }
            }
        }
    }
}

/// `table` is searched through an index range on one of `columns`, and
/// every search of it is one.
fn assert_range_on(name: &str, plan: &Plan, table: &str, columns: &[&str]) {
    match plan {
        Plan::Sqlite(lines) => {
            let searches: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("SEARCH {table} ")))
                .collect();
            let by = |line: &str| columns.iter().any(|c| line.contains(&format!("({c}")));
            assert!(
                searches.iter().any(|l| by(l)),
                "{name} never searches {table} by {columns:?}: {plan:?}"
            );
            // Besides, only single rows by their primary key.
            for line in searches {
                assert!(
                    by(line) || line.contains(" (id=?)"),
                    "{name} searches {table} by something else than {columns:?}: {plan:?}"
                );
            }
        }
        Plan::Postgres(nodes) => {
            let on_table: Vec<&Value> = nodes
                .iter()
                .filter(|n| {
                    text(n, "Relation Name") == table
                        || text(n, "Index Name").starts_with(&format!("{table}_"))
                })
                .filter(|n| n.get("Index Name").is_some())
                .collect();
            assert!(
                !on_table.is_empty(),
                "{name} reads {table} through no index: {plan:?}"
            );
            for node in on_table {
                let condition = text(node, "Index Cond");
                assert!(
                    columns.iter().any(|c| condition.contains(c)),
                    "{name} reads {table} by `{condition}`, not {columns:?}: {plan:?}"
                );
            }
        }
    }
}

/// The index gives the rows in the page's order: nothing is sorted, so a
/// page costs a page, however many rows match.
fn assert_in_page_order(name: &str, plan: &Plan) {
    match plan {
        Plan::Sqlite(lines) => assert!(
            !lines.iter().any(|l| l.contains("TEMP B-TREE FOR ORDER BY")),
            "{name} sorts: {plan:?}"
        ),
        Plan::Postgres(nodes) => assert!(
            !nodes.iter().any(|n| text(n, "Node Type").contains("Sort")),
            "{name} sorts: {plan:?}"
        ),
    }
}

async fn every_tenant_scoped_listing_is_an_index_range_scan_in_page_order(backend: Backend) {
    let tenant = ["organization_id", "webhook_id"];
    for (name, plan) in plans(backend, &["list_deliveries", "list_webhooks"]).await {
        assert_no_full_scan(&name, &plan);
        let table = if name.starts_with("list_webhooks") {
            "webhooks"
        } else {
            "deliveries"
        };
        assert_range_on(&name, &plan, table, &tenant);
        assert_in_page_order(&name, &plan);
    }
    for (name, plan) in plans(backend, &["recover_webhook"]).await {
        assert_no_full_scan(&name, &plan);
        assert_range_on(&name, &plan, "deliveries", &tenant);
    }
}

/// ListDeliveries by creation time reads the ids of the range, which every
/// index of the deliveries ends in: a page in the range costs a page,
/// however many deliveries lie outside it (no `created_at` index, no rows
/// of the range's far side read and thrown away).
async fn a_range_of_creation_times_narrows_the_index_range_by_id(backend: Backend) {
    let ranged: Vec<(String, Plan)> = plans(backend, &["list_deliveries"])
        .await
        .into_iter()
        .filter(|(name, _)| name.contains("created_range"))
        .collect();
    assert_eq!(ranged.len(), 22, "8 filters and 3 windows' ends, 2 pages");
    for (name, plan) in ranged {
        let bounded = match &plan {
            Plan::Sqlite(lines) => lines
                .iter()
                .any(|l| l.starts_with("SEARCH deliveries ") && l.contains("id>? AND id<?")),
            Plan::Postgres(nodes) => nodes.iter().any(|n| {
                let condition = text(n, "Index Cond");
                condition.contains("(id >= ") && condition.contains("(id < ")
            }),
        };
        assert!(bounded, "{name} does not read an id range: {plan:?}");
    }
}

/// GetWebhookStats reads the webhook's index from its newest delivery
/// down, at most the cap of the window (LIMIT), never the organization's.
async fn a_webhooks_stats_read_a_bounded_range_of_its_own_index(backend: Backend) {
    let planned = plans(backend, &["webhook_stats"]).await;
    assert_eq!(planned.len(), 2);
    for (name, plan) in planned {
        assert_no_full_scan(&name, &plan);
        assert_range_on(&name, &plan, "deliveries", &["webhook_id"]);
        assert_in_page_order(&name, &plan);
    }
}

async fn retention_reads_index_ranges_by_age(backend: Backend) {
    for (name, plan) in plans(backend, &["purge_"]).await {
        assert_no_full_scan(&name, &plan);
        match name.as_str() {
            "purge_deliveries" => assert_range_on(&name, &plan, "deliveries", &["updated_at"]),
            "purge_deliveries attempts" => {
                assert_range_on(&name, &plan, "delivery_attempts", &["delivery_id"]);
            }
            // By id: an event's id is a UUIDv7 of its creation time.
            // Each event counts its deliveries left (migration 24): no
            // look in `deliveries`.
            "purge_events" | "purge_deliveries events" => {
                assert_range_on(&name, &plan, "events", &["id"]);
            }
            other => panic!("unexpected {other}"),
        }
    }
}

/// Before, each claim and each backlog reading read every organization's
/// paused webhooks (`webhook_id NOT IN (SELECT id FROM webhooks WHERE NOT
/// enabled)`), and the partial indexes they read held paused deliveries.
async fn the_claim_path_never_reads_the_webhooks(backend: Backend) {
    for (name, plan) in plans(
        backend,
        &["organizations_with_pending", "claim_due", "backlog"],
    )
    .await
    {
        assert_no_full_scan(&name, &plan);
        let reads_webhooks = match &plan {
            Plan::Sqlite(lines) => lines.iter().any(|l| {
                l.contains("webhooks") || l.starts_with("SCAN w") || l.starts_with("SEARCH w ")
            }),
            Plan::Postgres(nodes) => nodes.iter().any(|n| {
                text(n, "Relation Name") == "webhooks"
                    || text(n, "Index Name").starts_with("webhooks")
            }),
        };
        assert!(!reads_webhooks, "{name} reads webhooks: {plan:?}");
    }
}

/// A pause, a resume, a delete, a disable and the sweeper after them each
/// look at a batch of the webhook's deliveries after the last one done
/// (a deleted webhook's with their organizations, which the sweep checks):
/// a batch costs a batch, however many deliveries the webhook or anyone
/// else has.
async fn each_batch_of_a_sweep_reads_an_index_range_of_its_webhook_in_id_order(backend: Backend) {
    for (name, plan) in plans(backend, &["sweep_window"]).await {
        assert_no_full_scan(&name, &plan);
        assert_range_on(&name, &plan, "deliveries", &["webhook_id"]);
        assert_in_page_order(&name, &plan);
    }
}

/// And unmarks or cancels the deliveries of the batch by their primary
/// keys: never the organization's range (which PostgreSQL took once with
/// the organization in the statement). (The pause's marking is not in
/// `store::plans`, see there.) On PostgreSQL by name in `skewed_plans`:
/// on these empty tables its costs tie between the primary key and the
/// partial index of deliveries not succeeded, for a cancel's
/// `status = 'pending'`.
async fn each_batch_of_a_sweep_writes_its_deliveries_by_primary_key(backend: Backend) {
    let planned = plans(backend, &["sweep_batch"]).await;
    assert_eq!(planned.len(), 4);
    for (name, plan) in planned {
        assert_no_full_scan(&name, &plan);
        assert_range_on(&name, &plan, "deliveries", &["id"]);
    }
}

/// The index `plan` reads `table` through, every one of them.
pub(crate) fn indexes_read(plan: &Plan) -> Vec<String> {
    match plan {
        Plan::Sqlite(lines) => lines
            .iter()
            .filter_map(|l| {
                // `USING INDEX x` or, reading nothing else, `USING COVERING INDEX x`.
                let (_, index) = l.split_once(" USING ")?;
                let index = index.strip_prefix("COVERING ").unwrap_or(index);
                let index = index.strip_prefix("INDEX ")?;
                Some(index.split_whitespace().next()?.to_owned())
            })
            .collect(),
        Plan::Postgres(nodes) => nodes
            .iter()
            .filter_map(|n| n["Index Name"].as_str().map(str::to_owned))
            .collect(),
    }
}

/// Ordered delivery keeps a sequence's successors `behind` and out of the
/// partial index the claim reads: the claim still reads that index (its
/// predicate, word for word the claim's), so an ordered backlog of any
/// size costs a claim one entry per sequence. The backlog gauges read it
/// too, an organization at a time: no other index of due work is kept.
async fn the_claim_reads_the_due_index_that_leaves_out_what_waits_behind_a_head(backend: Backend) {
    for (name, plan) in plans(
        backend,
        &["claim_due", "organizations_with_pending", "backlog"],
    )
    .await
    {
        assert_no_full_scan(&name, &plan);
        let read = indexes_read(&plan);
        assert!(
            read.iter().any(|i| i == "deliveries_organization_due"),
            "{name} does not read deliveries_organization_due: {plan:?}"
        );
    }
}

/// Publishing's head check and recording's promotion take one seek per
/// sequence on `deliveries_sequence`, whatever waits in it or elsewhere.
async fn a_sequences_head_check_and_promotion_seek_the_sequence_index(backend: Backend) {
    let planned = plans(backend, &["sequence "]).await;
    assert_eq!(planned.len(), 2);
    for (name, plan) in planned {
        assert_no_full_scan(&name, &plan);
        let read = indexes_read(&plan);
        assert!(
            read.iter().any(|i| i == "deliveries_sequence"),
            "{name} does not read deliveries_sequence: {plan:?}"
        );
    }
}
