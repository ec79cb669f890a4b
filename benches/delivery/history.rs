//! Other organizations' history, stored in bulk: a store that has been
//! delivering for a while, made in seconds. The webhooks are created through
//! the service (so their rows are exactly what it writes); the events and
//! their deliveries go straight into the database, many rows per statement,
//! bound through SeaORM like the service's own writes, so every column reads
//! back as the service expects.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};
use serde::Serialize;
use uuid::{NoContext, Timestamp, Uuid};

use crate::receiver::Receiver;
use crate::service::Service;

/// Organizations sharing the history, and webhooks of each: every event
/// goes to all of its organization's webhooks.
const ORGANIZATIONS: usize = 100;
const WEBHOOKS_PER_ORGANIZATION: usize = 10;
/// How far back the history reaches; well inside the default retention
/// (30 days), so the service keeps all of it during the run.
const SPAN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Rows per INSERT: 10 bound values a delivery row stays under SQLite's
/// 32,766 variables and PostgreSQL's 65,535 parameters.
const ROWS_PER_STATEMENT: usize = 3_000;
/// One delivery in this many ended failed.
const FAILED_EVERY: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub organizations: usize,
    pub webhooks: usize,
    pub events: usize,
    pub deliveries: usize,
    /// The bulk insert of events and deliveries (the webhooks excluded),
    /// with VACUUM ANALYZE after it on PostgreSQL.
    pub insert_seconds: f64,
    /// One of the organizations, to check that the service reads the rows.
    #[serde(skip)]
    pub sample: Uuid,
}

/// Creates the other organizations' webhooks through `service`.
pub async fn create_webhooks(service: &Service, receiver: &Receiver) {
    let run = Uuid::new_v4().simple().to_string();
    let run = run.as_str();
    // Concurrently, so creates share commits as they would in production.
    join_all((0..ORGANIZATIONS).map(|_| {
        let organization = Uuid::new_v4();
        service.subscribe_in(organization, WEBHOOKS_PER_ORGANIZATION, move |i| {
            receiver.url(&format!("/{run}/{organization}/{i}"))
        })
    }))
    .await;
}

/// Stores `deliveries` finished deliveries (and their events) spread over
/// the last week to the webhooks already in the database at `database_url`,
/// which must all belong to the other organizations. Run with the service
/// stopped: on SQLite the bench's writes would otherwise hold up its own.
pub async fn insert(database_url: &str, deliveries: usize) -> History {
    let db = Database::connect(database_url)
        .await
        .expect("bench connects to the database");
    let webhooks = webhooks_by_organization(&db).await;
    assert!(
        webhooks.len() == ORGANIZATIONS
            && webhooks
                .iter()
                .all(|(_, w)| w.len() == WEBHOOKS_PER_ORGANIZATION),
        "only the other organizations' webhooks are stored yet"
    );
    let events = deliveries / WEBHOOKS_PER_ORGANIZATION;
    let started = Instant::now();
    let first = Utc::now() - chrono::Duration::from_std(SPAN).unwrap();
    let step_ns = SPAN.as_nanos() as i64 / events as i64;
    let mut event_rows = Vec::new();
    let mut delivery_rows = Vec::new();
    for n in 0..events {
        // Organizations take turns, as their events would interleave.
        let (organization, hooks) = &webhooks[n % ORGANIZATIONS];
        let at = first + chrono::Duration::nanoseconds(step_ns * n as i64);
        let event = v7(at);
        event_rows.push(event_row(event, *organization, at));
        for (i, webhook) in hooks.iter().enumerate() {
            let failed = (n + i) % FAILED_EVERY == 0;
            delivery_rows.push(delivery_row(event, *webhook, *organization, at, failed));
        }
        if delivery_rows.len() >= ROWS_PER_STATEMENT {
            flush(&db, &mut event_rows, &mut delivery_rows).await;
        }
    }
    flush(&db, &mut event_rows, &mut delivery_rows).await;
    let stored = count(&db, "deliveries").await;
    assert!(stored >= deliveries, "{stored} deliveries stored");
    if db.get_database_backend() == DbBackend::Postgres {
        // As autovacuum would have done by now on a store this old: the
        // planner's statistics and the visibility map.
        for table in ["webhooks", "events", "deliveries"] {
            db.execute_unprepared(&format!("VACUUM ANALYZE {table}"))
                .await
                .expect("vacuum");
        }
    }
    let insert_seconds = started.elapsed().as_secs_f64();
    db.close().await.expect("close");
    History {
        organizations: ORGANIZATIONS,
        webhooks: ORGANIZATIONS * WEBHOOKS_PER_ORGANIZATION,
        events,
        deliveries: events * WEBHOOKS_PER_ORGANIZATION,
        insert_seconds,
        sample: webhooks[0].0,
    }
}

/// Every stored webhook's id, by organization.
async fn webhooks_by_organization(db: &DatabaseConnection) -> Vec<(Uuid, Vec<Uuid>)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT organization_id, id FROM webhooks ORDER BY organization_id, id",
        ))
        .await
        .expect("read webhooks");
    let mut by_organization: Vec<(Uuid, Vec<Uuid>)> = Vec::new();
    for row in rows {
        let organization: Uuid = row.try_get("", "organization_id").expect("a UUID");
        let id: Uuid = row.try_get("", "id").expect("a UUID");
        match by_organization.last_mut() {
            Some((last, ids)) if *last == organization => ids.push(id),
            _ => by_organization.push((organization, vec![id])),
        }
    }
    by_organization
}

/// A v7 UUID of time `at`, as the service makes its ids (they sort by time).
fn v7(at: DateTime<Utc>) -> Uuid {
    let nanos = at.timestamp_nanos_opt().expect("a time in range");
    Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    ))
}

fn event_row(id: Uuid, organization: Uuid, at: DateTime<Utc>) -> Vec<Value> {
    let body = serde_json::json!({
        "id": id.to_string(),
        "type": "member.added",
        "organization_id": organization.to_string(),
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {"user_id": format!("u_{:08}", id.as_u128() % 100_000_000), "email": "user@example.com", "role": "MEMBER"},
    });
    vec![
        id.into(),
        organization.into(),
        "member.added".into(),
        body.to_string().into(),
        at.into(),
    ]
}

fn delivery_row(
    event: Uuid,
    webhook: Uuid,
    organization: Uuid,
    at: DateTime<Utc>,
    failed: bool,
) -> Vec<Value> {
    let (status, attempts, last_error, finished) = if failed {
        (
            "failed",
            4,
            Some("HTTP 500"),
            at + chrono::Duration::seconds(36),
        )
    } else {
        (
            "succeeded",
            1,
            None,
            at + chrono::Duration::milliseconds(40),
        )
    };
    vec![
        v7(at).into(),
        event.into(),
        webhook.into(),
        organization.into(),
        status.into(),
        attempts.into(),
        at.into(),
        last_error.map(str::to_owned).into(),
        at.into(),
        finished.into(),
    ]
}

async fn flush(
    db: &DatabaseConnection,
    events: &mut Vec<Vec<Value>>,
    deliveries: &mut Vec<Vec<Value>>,
) {
    // Events first: a delivery names its event.
    insert_rows(
        db,
        "INSERT INTO events (id, organization_id, event_type, body, created_at) VALUES ",
        std::mem::take(events),
    )
    .await;
    insert_rows(
        db,
        "INSERT INTO deliveries (id, event_id, webhook_id, organization_id, status, attempts, \
         next_attempt_at, last_error, created_at, updated_at) VALUES ",
        std::mem::take(deliveries),
    )
    .await;
}

async fn insert_rows(db: &DatabaseConnection, insert: &str, rows: Vec<Vec<Value>>) {
    let backend = db.get_database_backend();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = String::from(insert);
        let mut values = Vec::new();
        for (r, row) in rows.by_ref().take(ROWS_PER_STATEMENT).enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for (c, value) in row.into_iter().enumerate() {
                values.push(value);
                if c > 0 {
                    sql.push_str(", ");
                }
                match backend {
                    DbBackend::Postgres => sql.push_str(&format!("${}", values.len())),
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .expect("bulk insert");
    }
}

async fn count(db: &DatabaseConnection, table: &str) -> usize {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("a count") as usize
}
