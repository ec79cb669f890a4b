//! Pausing or resuming a webhook with a large backlog holds the database
//! for a batch of its deliveries, never for all of them: the pause's own
//! transaction marks at most `PAUSE_BATCH`, the sweeper the rest in short
//! transactions of its own, and a claim that meets one not marked yet
//! marks it instead of sending it.

use std::time::{Duration, Instant};

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::on_every_backend;
use crate::paused_backlog::assert_no_work_to_claim;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, deliver_to, spawn_app_at, spawn_app_with};
use webhook_service::config::Settings;
use webhook_service::domain::{OrganizationId, WebhookChanges, WebhookId};
use webhook_service::grpc::proto::DeliveryStatus;
use webhook_service::store::{PAUSE_BATCH, SecretBox, Store, Sweep};

on_every_backend!(
    a_pause_answers_before_a_large_backlog_is_marked_and_the_sweeper_marks_the_rest,
    a_pause_marks_one_batch_itself_and_each_sweep_step_one_more,
    a_claim_marks_a_paused_webhooks_delivery_not_yet_marked_instead_of_sending_it,
    a_pause_then_a_resume_at_once_leave_nothing_marked,
);

pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// Two and a half batches: the pause's own, then two of the sweeper.
pub(crate) const BACKLOG: usize = PAUSE_BATCH as usize * 5 / 2;

fn deliveries() -> Alias {
    Alias::new("deliveries")
}

pub(crate) fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// A webhook for `path` of `receiver`, answering 500, whose one delivery
/// has been tried once and waits for its retry in an hour.
pub(crate) async fn webhook_with_a_retry(app: &TestApp, receiver: &Receiver, path: &str) -> String {
    receiver.always(path, 500);
    let webhook = app
        .subscribe(&receiver.url(path), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    let delivery = app.deliveries_of(&webhook.id).await[0].id.clone();
    app.wait_for_delivery(&delivery, WAIT, |d| d.attempt_count == 1)
        .await;
    webhook.id
}

pub(crate) fn retrying_in_an_hour(receiver: &Receiver) -> impl FnOnce(&mut Settings) + '_ {
    |s| {
        deliver_to(receiver)(s);
        s.retry_schedule = "1h".into();
    }
}

/// Adds `count` pending deliveries of the webhook's first delivery's event,
/// due in an hour, not marked: a backlog written faster than publishing
/// would.
pub(crate) async fn add_pending(db: &DatabaseConnection, webhook: Uuid, count: usize) {
    let template = Query::select()
        .columns(["event_id", "organization_id", "event_type"].map(Alias::new))
        .from(deliveries())
        .and_where(col("webhook_id").eq(webhook))
        .limit(1)
        .to_owned();
    let row = db.query_one(&template).await.unwrap().unwrap();
    let event: Uuid = row.try_get("", "event_id").unwrap();
    let organization: Uuid = row.try_get("", "organization_id").unwrap();
    let event_type: String = row.try_get("", "event_type").unwrap();
    let now = chrono::Utc::now();
    let due = now + chrono::Duration::hours(1);
    let txn = db.begin().await.unwrap();
    let mut left = count;
    while left > 0 {
        let rows = left.min(500);
        left -= rows;
        let mut insert = Query::insert()
            .into_table(deliveries())
            .columns(
                [
                    "id",
                    "event_id",
                    "webhook_id",
                    "organization_id",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                    "updated_at",
                    "event_type",
                    "paused",
                ]
                .map(Alias::new),
            )
            .to_owned();
        for _ in 0..rows {
            insert.values_panic([
                Uuid::now_v7().into(),
                event.into(),
                webhook.into(),
                organization.into(),
                "pending".into(),
                0.into(),
                due.into(),
                now.into(),
                now.into(),
                event_type.clone().into(),
                false.into(),
            ]);
        }
        txn.execute(&insert).await.unwrap();
    }
    txn.commit().await.unwrap();
}

/// How many of the webhook's deliveries are marked paused.
/// A webhook whose first delivery waits an hour for its retry, with
/// `BACKLOG` more pending, on a database whose service has stopped: for
/// tests that drive the store (and the sweeper) one step at a time.
pub(crate) struct StoppedBacklog {
    pub organization: OrganizationId,
    pub webhook: Uuid,
    pub id: WebhookId,
    /// The delivery that waits for its retry.
    pub first: Uuid,
    pub db: DatabaseConnection,
    pub store: Store,
    _dir: tempfile::TempDir,
}

pub(crate) async fn stopped_with_backlog(backend: Backend, path: &str) -> StoppedBacklog {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("backlog.db").display()),
        Backend::Postgres => crate::support::postgres::fresh_database().unwrap(),
    };
    let app = spawn_app_at(url.clone(), retrying_in_an_hour(&receiver)).await;
    let webhook_id = webhook_with_a_retry(&app, &receiver, path).await;
    let webhook = Uuid::parse_str(&webhook_id).unwrap();
    let first = Uuid::parse_str(&app.deliveries_of(&webhook_id).await[0].id).unwrap();
    let db = sea_orm::Database::connect(&url).await.unwrap();
    add_pending(&db, webhook, BACKLOG).await;
    let organization = OrganizationId::from_uuid(app.organization);
    app.stop_within(WAIT).await;
    StoppedBacklog {
        organization,
        webhook,
        id: WebhookId::from_uuid(webhook),
        first,
        db,
        store: Store::connect(&url, SecretBox::new(None)).await.unwrap(),
        _dir: dir,
    }
}

pub(crate) async fn marked(db: &DatabaseConnection, webhook: Uuid) -> usize {
    count(db, "deliveries", webhook, Some(col("paused").eq(true))).await
}

/// How many rows of `table` are the webhook's (and match `condition`).
pub(crate) async fn count(
    db: &DatabaseConnection,
    table: &str,
    webhook: Uuid,
    condition: Option<Expr>,
) -> usize {
    let mut query = Query::select()
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from(Alias::new(table))
        .and_where(col("webhook_id").eq(webhook))
        .to_owned();
    if let Some(condition) = condition {
        query.and_where(condition);
    }
    let row = db.query_one(&query).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap() as usize
}

/// Waits until `holds` is true of the count `what` returns; panics with
/// the last count after `limit`.
pub(crate) async fn wait_for_count<F: Future<Output = usize>>(
    limit: Duration,
    what: impl Fn() -> F,
    holds: impl Fn(usize) -> bool,
) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let n = what().await;
        if holds(n) {
            return n;
        }
        assert!(Instant::now() < deadline, "still {n} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_pause_answers_before_a_large_backlog_is_marked_and_the_sweeper_marks_the_rest(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        retrying_in_an_hour(&receiver)(s);
        // The whole backlog is sent after the resume: quickly.
        s.max_per_endpoint = 64;
    })
    .await;
    let webhook_id = webhook_with_a_retry(&app, &receiver, "/backlog").await;
    let webhook = Uuid::parse_str(&webhook_id).unwrap();
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    add_pending(&db, webhook, BACKLOG).await;
    let total = BACKLOG + 1;

    app.set_enabled(&webhook_id, false).await;
    // Read at once: the sweeper, woken by the pause, leaves at least 50 ms
    // between batches (the pause's being the first), and needs two more.
    let at_the_answer = marked(&db, webhook).await;
    assert!(
        at_the_answer < total,
        "all {total} deliveries were marked in the pause's own transaction"
    );
    assert!(at_the_answer >= PAUSE_BATCH as usize, "{at_the_answer}");
    wait_for_count(WAIT, || marked(&db, webhook), |n| n == total).await;
    assert_eq!(count(&db, "webhook_sweeps", webhook, None).await, 0);

    // Due now, and still nothing to claim nor send while it is paused.
    let due_now = Query::update()
        .table(deliveries())
        .value(
            Alias::new("next_attempt_at"),
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .and_where(col("webhook_id").eq(webhook))
        .to_owned();
    assert_eq!(
        db.execute(&due_now).await.unwrap().rows_affected(),
        total as u64
    );
    assert_no_work_to_claim(&app).await;
    assert_eq!(receiver.received("/backlog").len(), 1);

    // Resumed: all unmarked, and all sent.
    receiver.always("/backlog", 200);
    app.set_enabled(&webhook_id, true).await;
    receiver
        .wait_for("/backlog", total + 1, Duration::from_secs(60))
        .await;
    let unsent = || {
        count(
            &db,
            "deliveries",
            webhook,
            Some(col("status").ne("succeeded")),
        )
    };
    wait_for_count(WAIT, unsent, |n| n == 0).await;
    assert_eq!(marked(&db, webhook).await, 0);
    assert_eq!(receiver.received("/backlog").len(), total + 1);
    db.close().await.unwrap();
}

/// The sweeper driven one step at a time, on a database no service runs
/// on: each transaction marks or unmarks one batch, and the last one ends
/// the sweep.
async fn a_pause_marks_one_batch_itself_and_each_sweep_step_one_more(backend: Backend) {
    let StoppedBacklog {
        organization,
        webhook,
        id,
        db,
        store,
        ..
    } = stopped_with_backlog(backend, "/stepped").await;
    let total = BACKLOG + 1;
    let batch = PAUSE_BATCH as usize;
    let set_enabled = |enabled| WebhookChanges {
        enabled: Some(enabled),
        ..Default::default()
    };
    let paused = store
        .update_webhook(organization, id, &set_enabled(false))
        .await
        .unwrap()
        .unwrap();
    assert!(!paused.enabled);
    assert_eq!(marked(&db, webhook).await, batch);
    assert_eq!(count(&db, "webhook_sweeps", webhook, None).await, 1);
    assert_eq!(store.sweep(None).await.unwrap(), Sweep::Swept(id));
    assert_eq!(marked(&db, webhook).await, 2 * batch);
    assert_eq!(store.sweep(Some(id)).await.unwrap(), Sweep::Swept(id));
    assert_eq!(marked(&db, webhook).await, total);
    assert_eq!(count(&db, "webhook_sweeps", webhook, None).await, 0);
    assert_eq!(store.sweep(Some(id)).await.unwrap(), Sweep::Idle);

    store
        .update_webhook(organization, id, &set_enabled(true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marked(&db, webhook).await, total - batch);
    assert_eq!(store.sweep(None).await.unwrap(), Sweep::Swept(id));
    assert_eq!(marked(&db, webhook).await, total - 2 * batch);
    assert_eq!(store.sweep(None).await.unwrap(), Sweep::Swept(id));
    assert_eq!(marked(&db, webhook).await, 0);
    assert_eq!(store.sweep(None).await.unwrap(), Sweep::Idle);
    db.close().await.unwrap();
}

async fn a_claim_marks_a_paused_webhooks_delivery_not_yet_marked_instead_of_sending_it(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, retrying_in_an_hour(&receiver)).await;
    let webhook_id = webhook_with_a_retry(&app, &receiver, "/unmarked").await;
    let webhook = Uuid::parse_str(&webhook_id).unwrap();
    let delivery = app.deliveries_of(&webhook_id).await[0].id.clone();
    app.set_enabled(&webhook_id, false).await;
    // As if the sweeper had not come to it yet: not marked, and due now.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let unmarked_due = Query::update()
        .table(deliveries())
        .value(Alias::new("paused"), false)
        .value(
            Alias::new("next_attempt_at"),
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .and_where(col("webhook_id").eq(webhook))
        .to_owned();
    assert_eq!(db.execute(&unmarked_due).await.unwrap().rows_affected(), 1);
    app.publisher.wake();

    // A claim takes it, and marks it rather than send it.
    let held = Some(col("paused").eq(true).and(col("lease_until").is_null()));
    let deadline = Instant::now() + WAIT;
    while count(&db, "deliveries", webhook, held.clone()).await == 0 {
        assert_eq!(
            receiver.received("/unmarked").len(),
            1,
            "a paused webhook's delivery was sent"
        );
        assert!(Instant::now() < deadline, "no claim marked it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waiting = app.get_delivery(&delivery).await.unwrap();
    assert_eq!(waiting.status(), DeliveryStatus::Pending);
    assert_eq!(waiting.attempt_count, 1);
    assert_no_work_to_claim(&app).await;
    assert_eq!(receiver.received("/unmarked").len(), 1);

    receiver.always("/unmarked", 200);
    app.set_enabled(&webhook_id, true).await;
    receiver.wait_for("/unmarked", 2, WAIT).await;
    let sent = app
        .wait_for_delivery(&delivery, WAIT, |d| d.status() != DeliveryStatus::Pending)
        .await;
    assert_eq!(sent.status(), DeliveryStatus::Succeeded);
    db.close().await.unwrap();
}

/// The sweeper goes by the webhook as it is when it comes, not by the
/// change that left it work: a pause undone before it finished ends with
/// nothing marked.
async fn a_pause_then_a_resume_at_once_leave_nothing_marked(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, retrying_in_an_hour(&receiver)).await;
    let webhook_id = webhook_with_a_retry(&app, &receiver, "/undone").await;
    let webhook = Uuid::parse_str(&webhook_id).unwrap();
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    add_pending(&db, webhook, 5 * PAUSE_BATCH as usize).await;
    let sweeps = || count(&db, "webhook_sweeps", webhook, None);

    // At once, and once the sweeper has marked a batch of its own.
    for sweeper_started in [false, true] {
        app.set_enabled(&webhook_id, false).await;
        if sweeper_started {
            let marked = || marked(&db, webhook);
            wait_for_count(WAIT, marked, |n| n > PAUSE_BATCH as usize).await;
        }
        app.set_enabled(&webhook_id, true).await;
        wait_for_count(WAIT, sweeps, |n| n == 0).await;
        assert_eq!(marked(&db, webhook).await, 0, "after {sweeper_started}");
    }
    assert_eq!(receiver.received("/undone").len(), 1);
    db.close().await.unwrap();
}
