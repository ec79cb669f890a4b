//! The delivery benchmark: `cargo bench --bench delivery -- [--backend
//! sqlite|postgres|both] [--quick] [--json PATH]`.
//!
//! Starts everything on loopback itself: an HTTPS receiver with a test CA,
//! a throwaway PostgreSQL cluster (fsync on), and the service as a child
//! process per scenario. Each figure comes with a baseline measured in the
//! same run, since these machines are shared and noisy.

mod noisy;
#[allow(dead_code)]
#[path = "../../tests/api/support/pki.rs"]
mod pki;
#[allow(dead_code)]
#[path = "../../tests/api/support/postgres.rs"]
mod postgres;
#[allow(dead_code)]
#[path = "../../tests/api/support/receiver.rs"]
mod receiver;
mod scenarios;
mod service;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use noisy::NoisyNeighbour;
use scenarios::{Backlog, Calls, Databases, Latency, Throughput};

#[derive(Serialize)]
struct Report {
    date: String,
    machine: Machine,
    quick: bool,
    backends: Vec<BackendReport>,
}

#[derive(Serialize)]
struct Machine {
    cores: usize,
    kernel: String,
}

#[derive(Serialize)]
struct BackendReport {
    backend: &'static str,
    one_endpoint: Throughput,
    fan_out: Throughput,
    retry_load: Throughput,
    latency: Latency,
    create_webhook: Calls,
    backlog: Backlog,
    noisy_neighbour: NoisyNeighbour,
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
    // `--only noisy|fan-out|one-endpoint|retry-load|create-webhook` runs just that scenario (for
    // profiling) and prints its figures instead of the report.
    let only = value("--only");

    let receiver = Arc::new(receiver::Receiver::start().await);
    if let Some(only) = only {
        let sqlite = Sqlite(tempfile::tempdir().unwrap());
        let cluster;
        let databases: &dyn Databases = if backend == "postgres" {
            cluster = postgres::Cluster::start(true).expect("PostgreSQL server binaries");
            &cluster
        } else {
            &sqlite
        };
        let figures = match only.as_str() {
            "noisy" => serde_json::to_value(
                noisy::noisy_neighbour(databases, &receiver, 1_000 / scale, 100).await,
            ),
            "fan-out" => serde_json::to_value(
                scenarios::fan_out(databases, &receiver, 200 / scale, 100, 0).await,
            ),
            "one-endpoint" => serde_json::to_value(
                scenarios::fan_out(databases, &receiver, 20_000 / scale, 1, 0).await,
            ),
            "retry-load" => serde_json::to_value(
                scenarios::fan_out(databases, &receiver, 200 / scale, 100, 10).await,
            ),
            "create-webhook" => serde_json::to_value(
                scenarios::create_webhook(databases, &receiver, 2_000 / scale).await,
            ),
            other => {
                panic!("--only {other}: noisy, fan-out, one-endpoint, retry-load or create-webhook")
            }
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&figures.unwrap()).unwrap()
        );
        return;
    }
    let mut backends = Vec::new();
    if backend == "sqlite" || backend == "both" {
        let sqlite = Sqlite(tempfile::tempdir().unwrap());
        backends.push(run("sqlite", &sqlite, &receiver, scale).await);
    }
    if backend == "postgres" || backend == "both" {
        match postgres::Cluster::start(true) {
            Some(cluster) => backends.push(run("postgres", &cluster, &receiver, scale).await),
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
        backends,
    };
    print_table(&report);
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&json, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("\nfigures written to {}", json.display());
}

async fn run(
    backend: &'static str,
    databases: &dyn Databases,
    receiver: &Arc<receiver::Receiver>,
    scale: usize,
) -> BackendReport {
    eprintln!("== {backend}: 1 endpoint");
    let one_endpoint = scenarios::fan_out(databases, receiver, 20_000 / scale, 1, 0).await;
    eprintln!("== {backend}: fan-out");
    let fan_out = scenarios::fan_out(databases, receiver, 200 / scale, 100, 0).await;
    eprintln!("== {backend}: retry load");
    let retry_load = scenarios::fan_out(databases, receiver, 200 / scale, 100, 10).await;
    eprintln!("== {backend}: latency");
    let latency = scenarios::latency(databases, receiver, 500 / scale).await;
    eprintln!("== {backend}: CreateWebhook");
    let create_webhook = scenarios::create_webhook(databases, receiver, 2_000 / scale).await;
    eprintln!("== {backend}: backlog");
    let backlog = scenarios::backlog(databases, receiver, 1_000 / scale, 100).await;
    eprintln!("== {backend}: noisy neighbour");
    let noisy_neighbour = noisy::noisy_neighbour(databases, receiver, 1_000 / scale, 100).await;
    BackendReport {
        backend,
        one_endpoint,
        fan_out,
        retry_load,
        latency,
        create_webhook,
        backlog,
        noisy_neighbour,
    }
}

fn print_table(report: &Report) {
    println!(
        "\nwebhook-service delivery benchmark, {} cores, {}",
        report.machine.cores, report.date
    );
    for b in &report.backends {
        println!("\n[{}]", b.backend);
        println!(
            "{:<34} {:>11} {:>9} {:>12} {:>12} {:>7} {:>12} {:>10}",
            "throughput",
            "deliveries",
            "seconds",
            "per second",
            "baseline/s",
            "ratio",
            "cpu us/each",
            "TLS conns"
        );
        for (name, t) in [
            ("1 endpoint (N x 1)", &b.one_endpoint),
            ("fan-out (N x 100)", &b.fan_out),
            ("retry load (10% answer 500)", &b.retry_load),
        ] {
            println!(
                "{:<34} {:>11} {:>9.2} {:>12.0} {:>12.0} {:>7.3} {:>12.0} {:>10}",
                name,
                t.deliveries,
                t.seconds,
                t.deliveries_per_second,
                t.baseline_per_second,
                t.ratio,
                t.cost.service_cpu_us_per_delivery,
                t.cost.tls_handshakes
            );
        }
        let l = &b.latency;
        println!(
            "latency at {}/s, publish -> arrival: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            l.rate_per_second, l.p50_ms, l.p99_ms, l.max_ms
        );
        println!(
            "cost (service CPU per delivery, TLS connections opened): latency {:.0} us, {}; backlog {:.0} us, {}; noisy neighbour {:.0} us, {}",
            l.cost.service_cpu_us_per_delivery,
            l.cost.tls_handshakes,
            b.backlog.cost.service_cpu_us_per_delivery,
            b.backlog.cost.tls_handshakes,
            b.noisy_neighbour.cost.service_cpu_us_per_delivery,
            b.noisy_neighbour.cost.tls_handshakes
        );
        let c = &b.create_webhook;
        println!(
            "CreateWebhook x{}: {:.0}/s (p50 {:.2} ms, p99 {:.2} ms); Health/Check {:.0}/s (p50 {:.2} ms, p99 {:.2} ms); ratio {:.3}",
            c.concurrency,
            c.per_second,
            c.p50_ms,
            c.p99_ms,
            c.baseline_per_second,
            c.baseline_p50_ms,
            c.baseline_p99_ms,
            c.ratio
        );
        let k = &b.backlog;
        println!(
            "backlog {}: published in {:.1} s, drained in {:.1} s ({:.0}/s), peak RSS {:.1} MB while draining, {:.1} MB whole run",
            k.deliveries,
            k.publish_seconds,
            k.drain_seconds,
            k.drain_per_second,
            k.peak_rss_during_drain_mb,
            k.peak_rss_whole_run_mb
        );
        let n = &b.noisy_neighbour;
        println!(
            "noisy neighbour: A {} deliveries to {} endpoints answering in {} ms drains in {:.1} s ({:.1} s alone, throughput x{:.2}); B at {}/s: p50/p99 {:.2}/{:.2} ms idle, {:.2}/{:.2} ms under A; B p99 / A drain {:.5}",
            n.a_deliveries,
            n.a_endpoints,
            n.a_answer_ms,
            n.a_drain_seconds,
            n.a_drain_alone_seconds,
            n.a_throughput_ratio,
            n.b_rate_per_second,
            n.b_idle_p50_ms,
            n.b_idle_p99_ms,
            n.b_p50_ms,
            n.b_p99_ms,
            n.b_p99_over_a_drain
        );
    }
}
