//! What the service's own PostgreSQL sessions run with.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::{deliver_to, postgres, postgres_available, spawn_app_at};

const WAIT: Duration = Duration::from_secs(20);

/// No statement of the service is compiled just in time: every one is an
/// index lookup or a short range, and JIT only ever fired on estimates a
/// large table inflated (issue 26: the backlog gauges beside a million
/// retries, 9-15 ms of compiling for a statement that ran in under 1). The
/// cluster here compiles every statement that costs anything at all, and
/// `pg_stat_statements` counts what each compiled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_compile_no_statement_just_in_time() {
    if !postgres_available() {
        return;
    }
    let cluster = postgres::Cluster::start_with(
        false,
        &[
            ("shared_preload_libraries", "pg_stat_statements"),
            ("jit_above_cost", "0"),
        ],
    )
    .expect("a cluster of this test's own");
    let receiver = Receiver::start().await;
    let app = spawn_app_at(cluster.create_database(), deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/ok"), &["member.added"]).await;
    app.publish("member.added", json!({"n": 1}), "")
        .await
        .expect("accepted");
    receiver.wait_for("/ok", 1, WAIT).await;
    app.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await;
    // Its result recorded too, by the workers' pool. Watched through
    // `pg_stat_statements` itself, which the count below leaves out: this
    // test's own statements are compiled.
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = app
            .query(
                "SELECT count(*) AS n FROM pg_stat_statements \
                 WHERE query LIKE 'UPDATE \"deliveries\" SET \"status\"%'",
            )
            .await;
        if rows[0].try_get::<i64>("", "n").unwrap() > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the result was never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let available = app.query("SELECT pg_jit_available() AS on").await;
    assert!(
        available[0].try_get::<bool>("", "on").unwrap(),
        "this cluster cannot compile: the test would prove nothing"
    );
    let rows = app
        .query(
            "SELECT count(*) AS statements, COALESCE(sum(jit_functions), 0)::bigint AS compiled \
             FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query ILIKE '%deliveries%' AND query NOT ILIKE '%pg_stat_statements%'",
        )
        .await;
    let statements: i64 = rows[0].try_get("", "statements").unwrap();
    let compiled: i64 = rows[0].try_get("", "compiled").unwrap();
    assert!(statements > 0, "the service's statements were not seen");
    assert_eq!(
        compiled, 0,
        "functions compiled for the service's statements"
    );
}

/// A crash of PostgreSQL breaks every pooled connection. The pools check a
/// connection before handing it out and replace one that does not answer,
/// so the service takes events and delivers them again right after the
/// server is back: at most a call per broken connection fails (one caught
/// in the middle of its statement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_postgres_crashes_and_recovers_the_service_publishes_and_delivers_again() {
    if !postgres_available() {
        return;
    }
    let cluster = postgres::Cluster::start(false).expect("a cluster of this test's own");
    let receiver = Receiver::start().await;
    let app = spawn_app_at(cluster.create_database(), deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/ok"), &["member.added"]).await;
    app.publish("member.added", json!({"n": 0}), "")
        .await
        .expect("accepted");
    receiver.wait_for("/ok", 1, WAIT).await;

    cluster.crash_and_recover();

    // At most one failure per connection of both pools (16 + 8).
    let mut failures = Vec::new();
    while let Err(status) = app.publish("member.added", json!({"n": 1}), "").await {
        failures.push(status);
        assert!(failures.len() <= 24, "still failing: {failures:?}");
    }
    receiver.wait_for("/ok", 2, WAIT).await;
}
