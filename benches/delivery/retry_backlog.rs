//! Cost independent of a retry backlog (issue 26, item 4): the same work on
//! two stores, one empty and one where a dead endpoint's organization holds
//! [`BACKLOG`] deliveries due an hour from now. Fan-out and one endpoint for
//! other organizations, then 10 s idle, in rounds alternating between the
//! stores (empty, backlog, empty, backlog...), a fresh service per round
//! so that the store not measured has no service adding to the database's
//! CPU; medians, and backlog over empty.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};
use serde::Serialize;
use uuid::Uuid;

use crate::database::{self, DatabaseRounds};
use crate::receiver::Receiver;
use crate::rounds::{self, Spent, median};
use crate::scenarios::{Databases, GRPC_CHANNELS};
use crate::service::Service;

/// Deliveries in the backlog (`--quick`: a tenth).
pub const BACKLOG: usize = 1_000_000;
/// Measured rounds on each store, after one each to warm up.
const ROUNDS: usize = 5;
const FAN_OUT_WEBHOOKS: usize = 100;
const IDLE: Duration = Duration::from_secs(10);
/// After a round's last delivery, before the idle window: time for the
/// service's last result batch and lease releases, and for the tail of the
/// round to pass. Measured (docs/performance.md, "Issue 26, fourth day"),
/// the service's backends spent a median 23 ms in the 10 s from 2 s after
/// a round, 18 ms in the 10 s after those.
const SETTLE: Duration = Duration::from_secs(10);
const LIMIT: Duration = Duration::from_secs(300);
/// Every column of `deliveries` but `id`, copied from the backlog's first
/// delivery (src/store/entities/delivery.rs).
const COLUMNS: &str = "event_id, webhook_id, organization_id, status, attempts, \
    next_attempt_at, lease_until, last_error, created_at, updated_at, event_type, \
    paused, ordering_key, sequence, behind";

#[derive(Debug, Clone, Serialize)]
pub struct RetryBacklog {
    /// Pending deliveries of the dead endpoint's organization, due an hour
    /// after they were stored.
    pub backlog_deliveries: usize,
    /// Their insert, with VACUUM ANALYZE after it on PostgreSQL.
    pub insert_seconds: f64,
    pub rounds_each: usize,
    pub fan_out: Comparison,
    pub one_endpoint: Comparison,
    pub idle: Idle,
}

/// One workload on both stores, and backlog over empty (medians).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub events_per_round: usize,
    pub webhooks: usize,
    pub empty: Side,
    pub backlog: Side,
    pub per_second_ratio: f64,
    pub cpu_ratio: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_cpu_ratio: Option<f64>,
}

/// One store's rounds of one workload, in the order run, and their medians.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Side {
    pub deliveries_per_second: Vec<f64>,
    pub service_cpu_us_per_delivery: Vec<f64>,
    pub median_per_second: f64,
    pub median_cpu_us_per_delivery: f64,
    /// On PostgreSQL, the cluster's CPU and WAL per delivery.
    #[serde(flatten)]
    pub database: DatabaseRounds,
}

/// CPU over [`IDLE`] with nothing to deliver, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    pub seconds: f64,
    pub empty: IdleSide,
    pub backlog: IdleSide,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IdleSide {
    pub service_cpu_ms: Vec<f64>,
    /// Every process of the cluster but the bench's backends: autovacuum
    /// of either store included, whenever it falls in the window.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub postgres_cpu_ms: Vec<f64>,
    /// The service's own backends only: what its statements cost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_backends_cpu_ms: Vec<f64>,
    pub median_service_cpu_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_postgres_cpu_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_service_backends_cpu_ms: Option<f64>,
}

/// One store, its two measured organizations and what they were sent.
struct Store {
    url: String,
    fan_out: Uuid,
    one: Uuid,
    published: (usize, usize),
    sides: (Side, Side),
    idle: IdleSide,
}

pub async fn retry_backlog(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    backlog: usize,
    (fan_out_events, one_endpoint_events): (usize, usize),
) -> RetryBacklog {
    let run = Uuid::new_v4().simple().to_string();
    let mut empty = Store::prepare(databases.fresh(), receiver, &format!("{run}/empty")).await;
    let mut full = Store::prepare(databases.fresh(), receiver, &format!("{run}/backlog")).await;
    let insert_seconds = fill(&full.url, receiver, &run, backlog).await;

    for pass in 0..=ROUNDS {
        for store in [&mut empty, &mut full] {
            store
                .round(receiver, (fan_out_events, one_endpoint_events), pass > 0)
                .await;
        }
    }
    let (empty, full) = (empty.finish(), full.finish());
    RetryBacklog {
        backlog_deliveries: backlog,
        insert_seconds,
        rounds_each: ROUNDS,
        fan_out: Comparison::new(fan_out_events, FAN_OUT_WEBHOOKS, empty.0, full.0),
        one_endpoint: Comparison::new(one_endpoint_events, 1, empty.1, full.1),
        idle: Idle {
            seconds: IDLE.as_secs_f64(),
            empty: empty.2,
            backlog: full.2,
        },
    }
}

impl Store {
    /// A fresh store with the measured organizations' webhooks.
    async fn prepare(url: String, receiver: &Receiver, path: &str) -> Self {
        let service = Service::start(&url, &receiver.ca_file, &[]).await;
        let (fan_out, one) = (Uuid::new_v4(), Uuid::new_v4());
        service
            .subscribe_in(fan_out, FAN_OUT_WEBHOOKS, |i| {
                receiver.url(&format!("/{path}/fan-out/{i}"))
            })
            .await;
        service
            .subscribe_in(one, 1, |_| receiver.url(&format!("/{path}/one")))
            .await;
        Self {
            url,
            fan_out,
            one,
            published: (0, 0),
            sides: Default::default(),
            idle: Default::default(),
        }
    }

    /// Fan-out, one endpoint and idle on a service of its own, counted if
    /// `measured`.
    async fn round(&mut self, receiver: &Receiver, events: (usize, usize), measured: bool) {
        let service = Service::start(&self.url, &receiver.ca_file, &[]).await;
        let clients = service.event_clients(GRPC_CHANNELS).await;
        for (organization, webhooks, events, published, side) in [
            (
                self.fan_out,
                FAN_OUT_WEBHOOKS,
                events.0,
                &mut self.published.0,
                &mut self.sides.0,
            ),
            (
                self.one,
                1,
                events.1,
                &mut self.published.1,
                &mut self.sides.1,
            ),
        ] {
            let spent = rounds::publish_and_wait_in(
                &service,
                &clients,
                (*published, events),
                |n| service.publish_request_in(organization, n),
                Some(organization),
                ((*published + events) * webhooks) as u64,
                LIMIT,
            )
            .await;
            *published += events;
            if measured {
                side.push(&spent, events * webhooks);
            }
        }
        tokio::time::sleep(SETTLE).await;
        let cpu = service.cpu_seconds();
        let database = service.database_reading().await;
        let backends = service.client_backends().await;
        tokio::time::sleep(IDLE).await;
        let cpu = service.cpu_seconds() - cpu;
        let backends = match (backends, service.client_backends().await) {
            (Some(before), Some(after)) => Some(database::backends_spent(&before, &after)),
            _ => None,
        };
        let database = match database {
            Some(reading) => Some(service.database_spent(reading).await),
            None => None,
        };
        if measured {
            self.idle.service_cpu_ms.push(cpu * 1e3);
            if let Some(d) = database {
                self.idle.postgres_cpu_ms.push(d.cpu_seconds * 1e3);
            }
            if let Some(seconds) = backends {
                self.idle.service_backends_cpu_ms.push(seconds * 1e3);
            }
        }
    }

    fn finish(mut self) -> (Side, Side, IdleSide) {
        self.sides.0.finish();
        self.sides.1.finish();
        let idle = &mut self.idle;
        idle.median_service_cpu_ms = median(&idle.service_cpu_ms);
        let some_median = |values: &[f64]| (!values.is_empty()).then(|| median(values));
        idle.median_postgres_cpu_ms = some_median(&idle.postgres_cpu_ms);
        idle.median_service_backends_cpu_ms = some_median(&idle.service_backends_cpu_ms);
        (self.sides.0, self.sides.1, self.idle)
    }
}

impl Side {
    fn push(&mut self, spent: &Spent, deliveries: usize) {
        let n = deliveries as f64;
        self.deliveries_per_second.push(n / spent.seconds);
        self.service_cpu_us_per_delivery
            .push(spent.cpu_seconds * 1e6 / n);
        self.database
            .push(spent.database.map(|d| d.per_delivery(deliveries)));
    }

    fn finish(&mut self) {
        self.median_per_second = median(&self.deliveries_per_second);
        self.median_cpu_us_per_delivery = median(&self.service_cpu_us_per_delivery);
        self.database.finish();
    }
}

impl Comparison {
    fn new(events_per_round: usize, webhooks: usize, empty: Side, backlog: Side) -> Self {
        let postgres_cpu_ratio = match (
            backlog.database.median_postgres_cpu_us_per_delivery,
            empty.database.median_postgres_cpu_us_per_delivery,
        ) {
            (Some(b), Some(e)) => Some(b / e),
            _ => None,
        };
        Self {
            events_per_round,
            webhooks,
            per_second_ratio: backlog.median_per_second / empty.median_per_second,
            cpu_ratio: backlog.median_cpu_us_per_delivery / empty.median_cpu_us_per_delivery,
            postgres_cpu_ratio,
            empty,
            backlog,
        }
    }
}

/// Gives the store at `url` a dead endpoint's backlog of `size` deliveries:
/// its webhook and one event through the service, whose delivery fails
/// once (a retry waiting), then, with the service stopped, that delivery
/// copied `size - 1` times under new ids in one statement, all due an hour
/// from now. Returns the seconds the insert took.
async fn fill(url: &str, receiver: &Receiver, run: &str, size: usize) -> f64 {
    let dead = Uuid::new_v4();
    let path = format!("/{run}/dead");
    receiver.always(&path, 500);
    let service = Service::start(url, &receiver.ca_file, &[]).await;
    service.subscribe_in(dead, 1, |_| receiver.url(&path)).await;
    let mut client = service.event_clients(1).await.remove(0);
    client
        .publish_event(service.publish_request_in(dead, 0))
        .await
        .expect("publish to the dead endpoint");
    let db = Database::connect(url).await.expect("bench connects");
    let template = failed_once(&db, dead).await;
    drop(service);

    let started = Instant::now();
    let backend = db.get_database_backend();
    let due: Value = (Utc::now() + chrono::Duration::hours(1)).into();
    let (update, insert) = match backend {
        DbBackend::Postgres => (
            "UPDATE deliveries SET status = 'pending', attempts = 1, next_attempt_at = $1, \
             lease_until = NULL WHERE id = $2"
                .to_owned(),
            format!(
                "INSERT INTO deliveries (id, {COLUMNS}) SELECT gen_random_uuid(), {COLUMNS} \
                 FROM deliveries CROSS JOIN generate_series(2, $1) WHERE id = $2"
            ),
        ),
        // A Uuid is stored as its 16 bytes on SQLite (sqlx), so random
        // bytes read back as (version-less) UUIDs.
        _ => (
            "UPDATE deliveries SET status = 'pending', attempts = 1, next_attempt_at = ?, \
             lease_until = NULL WHERE id = ?"
                .to_owned(),
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
                 INSERT INTO deliveries (id, {COLUMNS}) SELECT randomblob(16), {COLUMNS} \
                 FROM deliveries, n WHERE deliveries.id = ?"
            ),
        ),
    };
    for (sql, values) in [
        (update, vec![due, template.into()]),
        (insert, vec![(size as i64).into(), template.into()]),
    ] {
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .expect("store the backlog");
    }
    if backend == DbBackend::Postgres {
        // What autovacuum would do within a minute of such an insert: the
        // planner's statistics, and the visibility map.
        db.execute_unprepared("VACUUM ANALYZE deliveries")
            .await
            .expect("vacuum");
    }
    let seconds = started.elapsed().as_secs_f64();
    check(&db, dead, size).await;
    db.close().await.expect("close");
    seconds
}

/// The dead endpoint's one delivery, once it failed and waits for a retry.
async fn failed_once(db: &DatabaseConnection, organization: Uuid) -> Uuid {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                placeholders(db, "SELECT id FROM deliveries WHERE organization_id = ? AND attempts >= 1 AND status = 'pending'"),
                [organization.into()],
            ))
            .await
            .expect("read the dead endpoint's delivery");
        if let Some(row) = row {
            return row.try_get("", "id").expect("a UUID");
        }
        assert!(Instant::now() < deadline, "the dead endpoint was not tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// That the backlog holds `size` pending deliveries whose ids read back.
async fn check(db: &DatabaseConnection, organization: Uuid, size: usize) {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            placeholders(db, "SELECT id FROM deliveries WHERE organization_id = ? AND status = 'pending' ORDER BY id LIMIT 2"),
            [organization.into()],
        ))
        .await
        .expect("read the backlog");
    for row in rows {
        row.try_get::<Uuid>("", "id").expect("ids read as UUIDs");
    }
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            placeholders(db, "SELECT COUNT(*) AS n FROM deliveries WHERE organization_id = ? AND status = 'pending'"),
            [organization.into()],
        ))
        .await
        .expect("count the backlog")
        .expect("a row");
    let n = row.try_get::<i64>("", "n").expect("a count") as usize;
    assert_eq!(n, size, "backlog deliveries stored");
}

fn placeholders(db: &DatabaseConnection, sql: &str) -> String {
    match db.get_database_backend() {
        DbBackend::Postgres => sql.replacen('?', "$1", 1),
        _ => sql.to_owned(),
    }
}
