//! What the database spends, on PostgreSQL: the CPU of every process of the
//! bench's cluster and the WAL it writes. On SQLite the database runs in
//! the service's process, so its CPU is already the service's.
//!
//! The cluster is found from the bench's own connection: its backend's
//! parent is the postmaster, and every other process of the cluster
//! descends from it. The bench's own backends (it polls the count of
//! succeeded deliveries every 20 ms) are left out of the CPU and counted
//! apart: on SQLite that polling runs in the bench's process, not the
//! service's, and on PostgreSQL it must not pass for the service's work.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::Serialize;

use crate::proc_tree;

/// The `application_name` of the bench's own connections, to tell their
/// backends apart.
pub const BENCH_APPLICATION: &str = "webhook-bench";

/// The bench's connection URL: on PostgreSQL, named [`BENCH_APPLICATION`],
/// and without parallel workers: the planner gives the bench's count of
/// succeeded deliveries a parallel scan on a small table, and the workers
/// are processes of the cluster, not the bench's backend, so their CPU
/// would pass for the database's work.
pub fn bench_url(database_url: &str) -> String {
    if !database_url.starts_with("postgres") {
        return database_url.to_owned();
    }
    let separator = if database_url.contains('?') { '&' } else { '?' };
    format!(
        "{database_url}{separator}application_name={BENCH_APPLICATION}\
         &options[max_parallel_workers_per_gather]=0"
    )
}

/// The cluster at one moment.
pub struct Reading {
    /// Where the WAL ends (`pg_current_wal_lsn()`, as text).
    wal_lsn: String,
    /// Every process of the cluster but the bench's backends.
    cpu_seconds: f64,
    /// The bench's backends alive now.
    bench_cpu_seconds: f64,
}

/// What the cluster spent between two readings.
#[derive(Debug, Clone, Copy)]
pub struct Spent {
    pub cpu_seconds: f64,
    pub wal_bytes: f64,
    pub bench_cpu_seconds: f64,
}

/// [`Spent`] per delivered webhook, as the JSON and the summary show it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DatabaseCost {
    /// CPU time (user and system) of every process of the PostgreSQL
    /// cluster (postmaster, backends, WAL writer, checkpointer,
    /// autovacuum...) but the bench's own backends, per delivered webhook.
    pub postgres_cpu_us_per_delivery: f64,
    /// WAL written (`pg_wal_lsn_diff` of `pg_current_wal_lsn()` after and
    /// before), per delivered webhook.
    pub wal_bytes_per_delivery: f64,
    /// The bench's own backends meanwhile (its polling), left out above.
    pub bench_queries_cpu_us_per_delivery: f64,
}

impl Spent {
    pub fn per_delivery(&self, deliveries: usize) -> DatabaseCost {
        let n = deliveries as f64;
        DatabaseCost {
            postgres_cpu_us_per_delivery: self.cpu_seconds * 1e6 / n,
            wal_bytes_per_delivery: self.wal_bytes / n,
            bench_queries_cpu_us_per_delivery: self.bench_cpu_seconds * 1e6 / n,
        }
    }
}

impl Reading {
    /// The cluster behind `db` now; `None` on SQLite.
    pub async fn take(db: &DatabaseConnection) -> Option<Self> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let sql = format!(
            "SELECT pg_current_wal_lsn()::text AS lsn, pg_backend_pid() AS pid, \
             (SELECT string_agg(pid::text, ',') FROM pg_stat_activity \
              WHERE application_name = '{BENCH_APPLICATION}') AS bench"
        );
        let row = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("read the WAL position")
            .expect("a row");
        let wal_lsn: String = row.try_get("", "lsn").expect("an LSN");
        let backend: i32 = row.try_get("", "pid").expect("a backend pid");
        let bench: Option<String> = row.try_get("", "bench").expect("the bench's backends");
        let bench: Vec<u32> = bench
            .unwrap_or_default()
            .split(',')
            .filter_map(|pid| pid.parse().ok())
            .collect();
        let postmaster = proc_tree::read(backend as u32)
            .expect("the bench's backend in /proc (PostgreSQL on this machine)")
            .ppid;
        let cpu_seconds =
            proc_tree::tree_cpu_seconds(postmaster, &bench).expect("the postmaster in /proc");
        let bench_cpu_seconds = bench
            .iter()
            .filter_map(|&pid| proc_tree::read(pid))
            .map(|s| s.own_seconds())
            .sum();
        Some(Self {
            wal_lsn,
            cpu_seconds,
            bench_cpu_seconds,
        })
    }

    /// What the cluster spent since this reading.
    pub async fn spent_since(self, db: &DatabaseConnection) -> Spent {
        let now = Self::take(db).await.expect("still PostgreSQL");
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::float8 AS bytes",
                [now.wal_lsn.into(), self.wal_lsn.into()],
            ))
            .await
            .expect("compare WAL positions")
            .expect("a row");
        Spent {
            cpu_seconds: now.cpu_seconds - self.cpu_seconds,
            wal_bytes: row.try_get("", "bytes").expect("a WAL difference"),
            // A bench backend that closed meanwhile moved its time into
            // the postmaster's reaped-children total, so into `cpu_seconds`:
            // the pool keeps its connections far longer than a round.
            bench_cpu_seconds: (now.bench_cpu_seconds - self.bench_cpu_seconds).max(0.0),
        }
    }
}

/// Per-round database figures beside a scenario's per-round service CPU,
/// and their medians; all absent on SQLite.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DatabaseRounds {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub postgres_cpu_us_per_delivery: Vec<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wal_bytes_per_delivery: Vec<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bench_queries_cpu_us_per_delivery: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_postgres_cpu_us_per_delivery: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_wal_bytes_per_delivery: Option<f64>,
}

impl DatabaseRounds {
    pub fn push(&mut self, cost: Option<DatabaseCost>) {
        if let Some(c) = cost {
            self.postgres_cpu_us_per_delivery
                .push(c.postgres_cpu_us_per_delivery);
            self.wal_bytes_per_delivery.push(c.wal_bytes_per_delivery);
            self.bench_queries_cpu_us_per_delivery
                .push(c.bench_queries_cpu_us_per_delivery);
        }
    }

    pub fn finish(&mut self) {
        let median = |values: &[f64]| (!values.is_empty()).then(|| crate::rounds::median(values));
        self.median_postgres_cpu_us_per_delivery = median(&self.postgres_cpu_us_per_delivery);
        self.median_wal_bytes_per_delivery = median(&self.wal_bytes_per_delivery);
    }

    /// "55 us CPU, 812 B WAL" (medians), or `None` on SQLite.
    pub fn figures(&self) -> Option<String> {
        Some(figures(
            self.median_postgres_cpu_us_per_delivery?,
            self.median_wal_bytes_per_delivery?,
        ))
    }

    /// "; PostgreSQL 55 us CPU, 812 B WAL per delivery" (medians), or
    /// nothing on SQLite.
    pub fn summary(&self) -> String {
        self.figures()
            .map_or_else(String::new, |f| format!("; PostgreSQL {f} per delivery"))
    }
}

/// "; PostgreSQL 55 us CPU, 812 B WAL per delivery", or nothing on SQLite.
pub fn summary_of(cost: Option<&DatabaseCost>) -> String {
    cost.map_or_else(String::new, |c| {
        let f = figures(c.postgres_cpu_us_per_delivery, c.wal_bytes_per_delivery);
        format!("; PostgreSQL {f} per delivery")
    })
}

pub fn figures(cpu_us: f64, wal_bytes: f64) -> String {
    format!("{cpu_us:.0} us CPU, {wal_bytes:.0} B WAL")
}

/// The CPU seconds so far of each client backend of `db`'s database but
/// the bench's own (the service's connections: no autovacuum worker, no
/// background process of the cluster), by pid; `None` on SQLite.
pub async fn client_backends(db: &DatabaseConnection) -> Option<Vec<(u32, f64)>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let sql = format!(
        "SELECT string_agg(pid::text, ',') AS pids FROM pg_stat_activity \
         WHERE datname = current_database() AND backend_type = 'client backend' \
         AND application_name <> '{BENCH_APPLICATION}'"
    );
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("read the client backends")
        .expect("a row");
    let pids: Option<String> = row.try_get("", "pids").expect("pids");
    Some(
        pids.unwrap_or_default()
            .split(',')
            .filter_map(|pid| pid.parse().ok())
            .filter_map(|pid| Some((pid, proc_tree::read(pid)?.own_seconds())))
            .collect(),
    )
}

/// What the backends of `after` spent since `before` (one opened meanwhile
/// counts whole; one closed meanwhile is lost, as the pool keeps them).
pub fn backends_spent(before: &[(u32, f64)], after: &[(u32, f64)]) -> f64 {
    after
        .iter()
        .map(|(pid, cpu)| {
            let start = before.iter().find(|(p, _)| p == pid).map_or(0.0, |b| b.1);
            cpu - start
        })
        .sum()
}
