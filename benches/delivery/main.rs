//! The delivery benchmark: `cargo bench --bench delivery -- [--backend
//! sqlite|postgres|both] [--quick] [--only SCENARIO] [--json PATH]`.
//!
//! Starts everything on loopback itself: an HTTPS receiver with a test CA,
//! a throwaway PostgreSQL cluster (fsync on), and the service as a child
//! process per scenario. Each figure comes with a baseline measured in the
//! same run, since these machines are shared and noisy.

mod cost;
mod database;
mod filter_timing;
mod filters;
mod history;
mod hostile;
mod noisy;
mod ordered;
#[allow(dead_code)]
#[path = "../../tests/api/support/pki.rs"]
mod pki;
#[allow(dead_code)]
#[path = "../../tests/api/support/postgres.rs"]
mod postgres;
mod proc_tree;
#[allow(dead_code)]
#[path = "../../tests/api/support/receiver.rs"]
mod receiver;
mod retry_backlog;
mod rounds;
mod scenarios;
mod schema;
#[allow(dead_code)]
#[path = "../../tests/api/support/scrape.rs"]
mod scrape;
mod service;
mod signing;
mod summary;
mod tracing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use filters::Filters;
use hostile::HostileTenant;
use noisy::NoisyNeighbour;
use ordered::OrderedDelivery;
use retry_backlog::RetryBacklog;
use scenarios::{Backlog, Calls, Databases, Latency, Throughput};
use schema::SchemaValidation;
use signing::Signing;
use tracing::Tracing;

/// What `--only` accepts; without it, every scenario runs, in this order.
const SCENARIOS: [&str; 14] = [
    "one-endpoint",
    "one-endpoint-ed25519",
    "fan-out",
    "retry-load",
    "latency",
    "create-webhook",
    "backlog",
    "noisy",
    "hostile-tenant",
    "schema-validation",
    "filters",
    "ordered",
    "tracing",
    "retry-backlog",
];

#[derive(Serialize)]
struct Report {
    date: String,
    machine: Machine,
    quick: bool,
    /// The one scenario run (`--only`), if not all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    only: Option<String>,
    backends: Vec<BackendReport>,
}

#[derive(Serialize)]
struct Machine {
    cores: usize,
    kernel: String,
}

/// One backend's figures; a scenario left out by `--only` is absent.
#[derive(Serialize)]
struct BackendReport {
    backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    one_endpoint: Option<Throughput>,
    /// One endpoint, ed25519 against HMAC webhooks in alternating rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing: Option<Signing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fan_out: Option<Throughput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_load: Option<Throughput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_webhook: Option<Calls>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backlog: Option<Backlog>,
    #[serde(skip_serializing_if = "Option::is_none")]
    noisy_neighbour: Option<NoisyNeighbour>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostile_tenant: Option<HostileTenant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_validation: Option<SchemaValidation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<Filters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ordered: Option<OrderedDelivery>,
    /// One endpoint with traces off, sampled at 1% and at 100%.
    #[serde(skip_serializing_if = "Option::is_none")]
    tracing: Option<Tracing>,
    /// Fan-out, one endpoint and idle beside a backlog of retries due in an
    /// hour, against an empty store.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_backlog: Option<RetryBacklog>,
}

struct Sqlite(tempfile::TempDir);

impl Databases for Sqlite {
    fn fresh(&self) -> String {
        let name = uuid::Uuid::new_v4().simple();
        format!("sqlite://{}/{name}.db?mode=rwc", self.0.path().display())
    }
}

impl Databases for postgres::Cluster {
    fn fresh(&self) -> String {
        self.create_database()
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let quick = args.iter().any(|a| a == "--quick");
    let backend = value("--backend").unwrap_or_else(|| "both".into());
    let json =
        PathBuf::from(value("--json").unwrap_or_else(|| "target/bench/delivery.json".into()));
    let scale = if quick { 10 } else { 1 };
    // `--only SCENARIO` runs just that one (to profile it, or to measure it
    // before and after a change), on the backends `--backend` names.
    let only = value("--only");
    if let Some(only) = &only {
        assert!(
            SCENARIOS.contains(&only.as_str()),
            "--only {only}: one of {}",
            SCENARIOS.join(", ")
        );
    }

    let receiver = Arc::new(receiver::Receiver::start().await);
    let mut backends = Vec::new();
    if backend == "sqlite" || backend == "both" {
        let sqlite = Sqlite(tempfile::tempdir().unwrap());
        backends.push(run("sqlite", &sqlite, &receiver, scale, only.as_deref()).await);
    }
    if backend == "postgres" || backend == "both" {
        // `BENCH_POSTGRES_SETTINGS="name=value ..."`: more server settings,
        // to look inside a run (auto_explain, slow-statement logs).
        let settings = std::env::var("BENCH_POSTGRES_SETTINGS").unwrap_or_default();
        let settings: Vec<(&str, &str)> = settings
            .split_whitespace()
            .filter_map(|setting| setting.split_once('='))
            .collect();
        match postgres::Cluster::start_with(true, &settings) {
            Some(cluster) => {
                backends.push(run("postgres", &cluster, &receiver, scale, only.as_deref()).await)
            }
            None => eprintln!("*** PostgreSQL skipped: no server binaries ***"),
        }
    }
    let report = Report {
        date: chrono::Utc::now().to_rfc3339(),
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        },
        quick,
        only,
        backends,
    };
    summary::print(&report);
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&json, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("\nfigures written to {}", json.display());
}

/// Every scenario on one backend, or only `only`.
async fn run(
    backend: &'static str,
    databases: &dyn Databases,
    receiver: &Arc<receiver::Receiver>,
    scale: usize,
    only: Option<&str>,
) -> BackendReport {
    let runs = |name: &str| {
        let yes = only.is_none_or(|only| only == name);
        if yes {
            eprintln!("== {backend}: {name}");
        }
        yes
    };
    let mut report = BackendReport {
        backend,
        one_endpoint: None,
        signing: None,
        fan_out: None,
        retry_load: None,
        latency: None,
        create_webhook: None,
        backlog: None,
        noisy_neighbour: None,
        hostile_tenant: None,
        schema_validation: None,
        filters: None,
        ordered: None,
        tracing: None,
        retry_backlog: None,
    };
    if runs("one-endpoint") {
        report.one_endpoint =
            Some(scenarios::fan_out(databases, receiver, 20_000 / scale, 1, 0).await);
    }
    if runs("one-endpoint-ed25519") {
        // 12 rounds of 5,000 events (2 to warm up), a few seconds each.
        report.signing = Some(signing::signing(databases, receiver, 5_000 / scale).await);
    }
    if runs("fan-out") {
        report.fan_out = Some(scenarios::fan_out(databases, receiver, 200 / scale, 100, 0).await);
    }
    if runs("retry-load") {
        report.retry_load =
            Some(scenarios::fan_out(databases, receiver, 200 / scale, 100, 10).await);
    }
    if runs("latency") {
        report.latency = Some(scenarios::latency(databases, receiver, 500 / scale).await);
    }
    if runs("create-webhook") {
        report.create_webhook =
            Some(scenarios::create_webhook(databases, receiver, 2_000 / scale).await);
    }
    if runs("backlog") {
        report.backlog = Some(scenarios::backlog(databases, receiver, 1_000 / scale, 100).await);
    }
    if runs("noisy") {
        report.noisy_neighbour =
            Some(noisy::noisy_neighbour(databases, receiver, 1_000 / scale, 100).await);
    }
    if runs("hostile-tenant") {
        // 20 s a phase (5 s quick): 400 of B's publishes each, so p99 is
        // the fourth slowest.
        let phase = Duration::from_secs(if scale > 1 { 5 } else { 20 });
        report.hostile_tenant =
            Some(hostile::hostile_tenant(databases, receiver, 1_000_000 / scale, phase).await);
    }
    if runs("schema-validation") {
        // 12 rounds of 5,000 events (2 to warm up), about a second each.
        report.schema_validation =
            Some(schema::schema_validation(databases, receiver, 5_000 / scale).await);
    }
    if runs("filters") {
        // 12 rounds of 200 events (2 to warm up) to 100 webhooks each: the
        // fan-out scenario's 20,000 deliveries a round without filters,
        // 10,000 with; a few seconds a round.
        report.filters = Some(filters::filters(databases, receiver, 200 / scale).await);
    }
    if runs("ordered") {
        // 3 rounds of 20,000 events to one endpoint, ordered and unordered
        // alternately, a fresh service each.
        report.ordered = Some(ordered::ordered_delivery(databases, receiver, 20_000 / scale).await);
    }
    if runs("tracing") {
        // 5 passes (after one to warm up) of 5,000 events to each of three
        // services: traces off, sampled at 1%, at 100%.
        report.tracing = Some(tracing::tracing(databases, receiver, 5_000 / scale).await);
    }
    if runs("retry-backlog") {
        // 6 rounds on each store (1 to warm up), each the fan-out and
        // 1-endpoint scenarios' sizes then 10 s idle.
        report.retry_backlog = Some(
            retry_backlog::retry_backlog(
                databases,
                receiver,
                retry_backlog::BACKLOG / scale,
                (200 / scale, 20_000 / scale),
            )
            .await,
        );
    }
    report
}
