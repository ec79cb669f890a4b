//! Deleting a webhook, or disabling one that keeps failing, with a large
//! backlog holds the database for a batch of its deliveries, never for all
//! of them: the delete's (or the disable's) own transaction cancels at most
//! `PAUSE_BATCH`, the sweeper the rest in short transactions of its own.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use uuid::Uuid;

use crate::large_pauses::{
    BACKLOG, StoppedBacklog, WAIT, add_pending, col, count, marked, retrying_in_an_hour,
    stopped_with_backlog, wait_for_count, webhook_with_a_retry,
};
use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::scrape::scrape;
use crate::support::{Backend, deliver_to, spawn_app_with};
use webhook_service::domain::{DeliveryId, WebhookChanges};
use webhook_service::store::{AttemptRecord, HandOff, Next, PAUSE_BATCH, Recovered, Sweep};

on_every_backend!(
    a_delete_answers_before_a_large_backlog_is_cancelled_and_the_sweeper_cancels_the_rest,
    an_auto_disable_cancels_a_batch_itself_and_the_sweeper_the_rest_for_recover_to_find,
    a_webhook_enabled_again_while_its_disable_is_swept_keeps_what_was_not_cancelled_yet,
    a_claim_that_cancels_a_deleted_webhooks_delivery_before_the_sweeper_says_how_many,
);

/// WEBHOOK_DISABLE_AFTER in the auto-disable test.
const LIMIT: Duration = Duration::from_secs(1);

/// How many of the webhook's deliveries are cancelled (and match `and`).
async fn cancelled(db: &DatabaseConnection, webhook: Uuid, and: Option<Expr>) -> usize {
    let mut condition = col("status").eq("cancelled");
    if let Some(and) = and {
        condition = condition.and(and);
    }
    count(db, "deliveries", webhook, Some(condition)).await
}

/// Cancelled by the webhook's disabling, for `reason`: what RecoverWebhook
/// looks for.
fn disabled_for(reason: &str) -> Option<Expr> {
    Some(col("last_error").eq(format!("disabled: {reason}")))
}

/// The cancelled-deliveries counter of the app's metrics.
async fn cancelled_metric(app: &crate::support::TestApp) -> f64 {
    let scrape = scrape(app.metrics_address.expect("metrics are served")).await;
    scrape
        .value(
            "webhook_deliveries_finished_total",
            &[("status", "cancelled")],
        )
        .unwrap_or(0.0)
}

async fn a_delete_answers_before_a_large_backlog_is_cancelled_and_the_sweeper_cancels_the_rest(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, retrying_in_an_hour(&receiver)).await;
    let webhook_id = webhook_with_a_retry(&app, &receiver, "/deleted").await;
    let webhook = Uuid::parse_str(&webhook_id).unwrap();
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    add_pending(&db, webhook, BACKLOG).await;
    let total = BACKLOG + 1;
    let before = cancelled_metric(&app).await;

    app.delete_webhook(&webhook_id).await.unwrap();
    // Read at once: the sweeper, woken by the delete, leaves at least 50 ms
    // between batches (the delete's being the first), and needs two more.
    let at_the_answer = cancelled(&db, webhook, None).await;
    assert!(
        at_the_answer < total,
        "all {total} deliveries were cancelled in the delete's own transaction"
    );
    assert!(at_the_answer >= PAUSE_BATCH as usize, "{at_the_answer}");
    wait_for_count(WAIT, || cancelled(&db, webhook, None), |n| n == total).await;
    assert_eq!(count(&db, "webhook_sweeps", webhook, None).await, 0);
    // Cancelled because of the delete, not of a disable: RecoverWebhook
    // never sends them again (there is nothing to send them to anyway).
    let disabled = Some(col("last_error").like("disabled: %"));
    assert_eq!(cancelled(&db, webhook, disabled).await, 0);
    assert_eq!(receiver.received("/deleted").len(), 1);
    // Each counted once: the delete's batch by the call, the rest by the
    // sweeper.
    let counted = cancelled_metric(&app).await - before;
    assert_eq!(counted, total as f64);
    // DeleteWebhook still answers NOT_FOUND for it.
    let again = app.delete_webhook(&webhook_id).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::NotFound);
    db.close().await.unwrap();
}

async fn an_auto_disable_cancels_a_batch_itself_and_the_sweeper_the_rest_for_recover_to_find(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    receiver.always("/failing", 500);
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        // One attempt each: a failure ends its delivery, and a run of them
        // longer than LIMIT disables the webhook.
        s.retry_schedule = "".into();
        s.disable_after = LIMIT;
    })
    .await;
    let webhook_id = app
        .subscribe(&receiver.url("/failing"), &["member.added"])
        .await
        .webhook
        .unwrap()
        .id;
    let webhook = Uuid::parse_str(&webhook_id).unwrap();
    app.publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    receiver.wait_for("/failing", 1, WAIT).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let failed = || count(&db, "deliveries", webhook, Some(col("status").eq("failed")));
    wait_for_count(WAIT, failed, |n| n == 1).await;
    add_pending(&db, webhook, BACKLOG).await;
    let before = cancelled_metric(&app).await;
    // The run of failures must outlast the limit before the next one.
    tokio::time::sleep(LIMIT + Duration::from_millis(100)).await;

    app.publish("member.added", json!({"n": 2}), "")
        .await
        .unwrap();
    // The first count seen: the disable's own batch, polled every 20 ms;
    // the sweeper leaves at least 50 ms before each of its two batches.
    let first = wait_for_count(WAIT, || cancelled(&db, webhook, None), |n| n > 0).await;
    assert!(
        first < BACKLOG,
        "all {BACKLOG} deliveries were cancelled in the disable's own transaction"
    );
    assert!(first >= PAUSE_BATCH as usize - 1, "{first}");
    let disabled = app.get_webhook(&webhook_id).await.unwrap();
    assert!(!disabled.enabled);
    let reason = disabled.disabled_reason.clone();
    assert!(!reason.is_empty(), "{disabled:?}");
    wait_for_count(WAIT, || cancelled(&db, webhook, None), |n| n == BACKLOG).await;
    // All with the mark RecoverWebhook looks for, whichever transaction
    // cancelled them.
    assert_eq!(
        cancelled(&db, webhook, disabled_for(&reason)).await,
        BACKLOG
    );
    assert_eq!(count(&db, "webhook_sweeps", webhook, None).await, 0);
    assert_eq!(receiver.received("/failing").len(), 2);
    let counted = cancelled_metric(&app).await - before;
    assert_eq!(counted, BACKLOG as f64);
    db.close().await.unwrap();
}

/// The sweeper driven one step at a time, on a database no service runs
/// on: a webhook disabled with 2.5 batches pending, one of the sweeper's
/// batches cancelled, then the webhook enabled again. The sweep stops
/// cancelling (the webhook as it is when the sweeper comes is the truth):
/// what it had not reached stays pending, and RecoverWebhook finds every
/// delivery the disable cancelled.
async fn a_webhook_enabled_again_while_its_disable_is_swept_keeps_what_was_not_cancelled_yet(
    backend: Backend,
) {
    let StoppedBacklog {
        organization,
        webhook,
        id,
        first,
        db,
        store,
        ..
    } = stopped_with_backlog(backend, "/recovered").await;
    let total = BACKLOG + 1;
    let batch = PAUSE_BATCH as usize;
    // The first delivery's second attempt fails for good; with a limit of
    // zero, that disables the webhook.
    let failure = AttemptRecord {
        delivery_id: DeliveryId::from_uuid(first),
        organization_id: organization,
        webhook_id: id,
        attempt: 2,
        started_at: chrono::Utc::now(),
        duration: Duration::from_millis(5),
        status_code: Some(500),
        error_kind: Some("status"),
        error_message: Some("HTTP 500".into()),
        response_excerpt: None,
        next: Next::Failed,
        ordering_key: None,
    };
    let recorded = store
        .record_attempts(&[failure], Duration::ZERO, &mut HandOff::none())
        .await
        .unwrap();
    assert_eq!(recorded.disabled, vec![id]);
    let reason = store
        .get_webhook(organization, id)
        .await
        .unwrap()
        .unwrap()
        .disabled
        .expect("disabled")
        .reason;
    // The first delivery (failed now) and the rest of a batch, cancelled.
    assert_eq!(recorded.finished.cancelled, batch as u64 - 1);
    assert_eq!(
        cancelled(&db, webhook, disabled_for(&reason)).await,
        batch - 1
    );
    assert_eq!(count(&db, "webhook_sweeps", webhook, None).await, 1);
    assert_eq!(
        store.sweep(None).await.unwrap(),
        Sweep::Cancelled(id, batch as u64)
    );
    assert_eq!(
        cancelled(&db, webhook, disabled_for(&reason)).await,
        2 * batch - 1
    );

    let enabled = store
        .update_webhook(
            organization,
            id,
            &WebhookChanges {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(enabled.enabled && enabled.disabled.is_none());
    let mut steps = 0;
    while store.sweep(None).await.unwrap() != Sweep::Idle {
        steps += 1;
        assert!(steps < 10, "the sweep never ends");
    }
    assert_eq!(count(&db, "webhook_sweeps", webhook, None).await, 0);
    assert_eq!(cancelled(&db, webhook, None).await, 2 * batch - 1);
    let pending = count(
        &db,
        "deliveries",
        webhook,
        Some(col("status").eq("pending")),
    )
    .await;
    assert_eq!(pending, total - 2 * batch);
    assert_eq!(marked(&db, webhook).await, 0);

    // Everything the disable cancelled, and the failure, are sent again.
    let recovered = store
        .recover_webhook(organization, id, chrono::DateTime::UNIX_EPOCH)
        .await
        .unwrap();
    let Recovered::Scheduled(n) = recovered else {
        panic!("not recovered");
    };
    assert_eq!(n as usize, 2 * batch);
    db.close().await.unwrap();
}

/// On a database no service runs on: a webhook deleted with 2.5 batches
/// pending, the rest due now, and a claim before the sweeper. The claim
/// cancels what it takes and says how many (the workers count them), the
/// sweeper cancels the others; the delete, the claim and the sweeper
/// together report every delivery exactly once.
async fn a_claim_that_cancels_a_deleted_webhooks_delivery_before_the_sweeper_says_how_many(
    backend: Backend,
) {
    let StoppedBacklog {
        organization,
        webhook,
        id,
        db,
        store,
        ..
    } = stopped_with_backlog(backend, "/orphans").await;
    let total = BACKLOG + 1;
    let by_delete = store
        .delete_webhook(organization, id)
        .await
        .unwrap()
        .expect("deleted");
    assert_eq!(by_delete, PAUSE_BATCH);
    let due_now = Query::update()
        .table(Alias::new("deliveries"))
        .value(
            Alias::new("next_attempt_at"),
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .and_where(col("webhook_id").eq(webhook))
        .and_where(col("status").eq("pending"))
        .to_owned();
    db.execute(&due_now).await.unwrap();
    let claims = store
        .claim_due(organization, 10, Duration::from_secs(40), &[])
        .await
        .unwrap();
    assert!(claims.deliveries.is_empty());
    assert_eq!((claims.taken, claims.cancelled), (10, 10));

    let mut by_sweeper = 0;
    loop {
        match store.sweep(None).await.unwrap() {
            Sweep::Idle => break,
            Sweep::Cancelled(swept, n) if swept == id => by_sweeper += n,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(cancelled(&db, webhook, None).await, total);
    assert_eq!(by_delete + claims.cancelled + by_sweeper, total as u64);
    db.close().await.unwrap();
}
