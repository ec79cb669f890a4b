//! One organization's people get only so many calls in progress at once
//! (WEBHOOK_MAX_CALLS_PER_ORGANIZATION): the rest of theirs wait their
//! turn, and other organizations' calls do not wait behind them.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use uuid::Uuid;

use crate::support::{Backend, authorized, field_mask, postgres_available, spawn_app_with};
use webhook_service::grpc::proto::{ListWebhooksRequest, UpdateWebhookRequest};

/// Long enough for a call that is not held back to be answered many times
/// over on a loaded machine.
const HELD_FOR: Duration = Duration::from_secs(2);

#[tokio::test]
async fn an_organization_s_calls_beyond_its_quota_wait_and_others_do_not() {
    if !postgres_available() {
        return;
    }
    let app = spawn_app_with(Backend::Postgres, |s| s.max_calls_per_organization = 2).await;
    let hook = app
        .subscribe("https://hooks.example.com/a", &["member.added"])
        .await
        .webhook
        .expect("a webhook");

    // Another client of the database locks the webhook's row: A's updates
    // of it wait for the row, each holding one of A's two calls.
    let db = Database::connect(&app.database_url).await.unwrap();
    let lock = db.begin().await.unwrap();
    lock.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM webhooks WHERE id = $1 FOR UPDATE",
        [Uuid::parse_str(&hook.id).unwrap().into()],
    ))
    .await
    .unwrap();
    let updates: Vec<_> = (0..2)
        .map(|i| {
            let request = UpdateWebhookRequest {
                webhook_id: hook.id.clone(),
                description: format!("update {i}"),
                update_mask: field_mask(&["description"]),
                ..Default::default()
            };
            let app = &app;
            async move { app.update_webhook(request).await }
        })
        .collect();
    let updates = futures_util::future::join_all(updates);
    tokio::pin!(updates);

    let list = |organization: Uuid| {
        let app = &app;
        async move {
            let request = ListWebhooksRequest {
                organization_id: organization.to_string(),
                ..Default::default()
            };
            let token = app.token_for(organization, "OWNER");
            app.webhooks()
                .await
                .list_webhooks(authorized(request, &token))
                .await
        }
    };
    // Both updates are in the database, waiting for the row: they hold
    // A's two calls.
    tokio::select! {
        _ = &mut updates => panic!("the updates went through a locked row"),
        waited = tokio::time::timeout(Duration::from_secs(10), waiting_for_locks(&db, 2)) => {
            waited.expect("both updates wait for the row")
        }
    }

    let other = Uuid::new_v4();
    let third = list(app.organization);
    tokio::pin!(third);
    tokio::select! {
        _ = &mut updates => panic!("the updates went through a locked row"),
        _ = &mut third => panic!("a third call of the organization ran beside its two"),
        answered = async {
            // Meanwhile another organization is answered at once.
            list(other).await.expect("another organization's call");
            tokio::time::sleep(HELD_FOR).await;
        } => answered,
    }

    lock.commit().await.unwrap();
    let (updated, listed) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(&mut updates, &mut third)
    })
    .await
    .expect("once the row is free, every call is answered");
    assert!(updated.iter().all(Result::is_ok), "{updated:?}");
    assert_eq!(
        listed.expect("the third call").into_inner().webhooks.len(),
        1
    );
}

/// Returns once `count` sessions of the database wait for a lock.
async fn waiting_for_locks(db: &sea_orm::DatabaseConnection, count: i64) {
    loop {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS waiting FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND datname = current_database()",
            ))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "waiting").unwrap() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
