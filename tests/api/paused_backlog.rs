//! A paused webhook's pending deliveries leave the claim path while it is
//! paused: the look for organizations with work, the claims and the backlog
//! gauge no longer read them, however many there are. Callers still see
//! them pending, and resuming sends them.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::json;

use crate::history::retry;
use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::receiver::Reply;
use crate::support::{Backend, TestApp, deliver_to, spawn_app_with, time};
use webhook_service::domain::OrganizationId;
use webhook_service::grpc::proto::{DeliveryStatus, ListDeliveriesRequest};
use webhook_service::store::{SecretBox, Store};

on_every_backend!(
    a_paused_webhooks_due_deliveries_are_not_work_to_claim_until_it_resumes,
    a_delivery_retried_while_its_webhook_is_paused_waits_for_the_resume,
    an_attempt_in_flight_at_the_pause_is_recorded_and_its_retry_waits,
);

const WAIT: Duration = Duration::from_secs(10);

/// The claim path, on a store of its own over the app's database, finds
/// nothing of the app's organization to take: no organization with work,
/// no delivery to claim, nothing due in the backlog.
pub(crate) async fn assert_no_work_to_claim(app: &TestApp) {
    let store = Store::connect(&app.database_url, SecretBox::new(None))
        .await
        .unwrap();
    let found = store.organizations_with_pending(None, 64).await.unwrap();
    assert!(
        found.claimable.is_empty(),
        "an organization whose only due delivery is paused has work to claim: {:?}",
        found.claimable
    );
    assert_eq!(found.next, None);
    let organization = OrganizationId::from_uuid(app.organization);
    let claimed = store
        .claim_due(organization, 10, Duration::from_secs(60), &[])
        .await
        .unwrap()
        .deliveries;
    assert!(claimed.is_empty(), "a paused delivery was claimed");
    assert_eq!(store.backlog().await.unwrap().due, 0);
}

/// Resumes the webhook at `path`, whose one delivery waited, answered
/// 200 now: the delivery is sent at once, its second attempt.
async fn resume_and_see_it_sent(
    app: &TestApp,
    receiver: &Receiver,
    path: &str,
    webhook_id: &str,
    delivery: &str,
) {
    app.set_enabled(webhook_id, true).await;
    receiver.wait_for(path, 2, WAIT).await;
    let sent = app
        .wait_for_delivery(delivery, WAIT, |d| d.status() != DeliveryStatus::Pending)
        .await;
    assert_eq!(sent.status(), DeliveryStatus::Succeeded);
    assert_eq!(sent.attempt_count, 2);
}

async fn a_paused_webhooks_due_deliveries_are_not_work_to_claim_until_it_resumes(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.always("/paused", 500);
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "1h".into();
    })
    .await;
    let webhook = app
        .subscribe(&receiver.url("/paused"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/paused", 1, WAIT).await;
    let delivery = app.deliveries_of(&webhook.id).await[0].id.clone();
    app.wait_for_delivery(&delivery, WAIT, |d| d.attempt_count == 1)
        .await;
    app.set_enabled(&webhook.id, false).await;
    // Its retry comes due while it is paused.
    let due_now = Query::update()
        .table(Alias::new("deliveries"))
        .value(
            Alias::new("next_attempt_at"),
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .and_where(Expr::col(Alias::new("organization_id")).eq(app.organization))
        .to_owned();
    assert_eq!(app.execute(&due_now).await, 1);

    assert_no_work_to_claim(&app).await;

    // Callers still see it pending, and the PENDING filter finds it.
    let pending = app
        .list_deliveries(ListDeliveriesRequest {
            status: DeliveryStatus::Pending as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].id, delivery);
    assert_eq!(pending[0].status(), DeliveryStatus::Pending);
    assert!(pending[0].next_attempt_at.is_some());

    // Resumed, it is work again, and sent.
    receiver.always("/paused", 200);
    resume_and_see_it_sent(&app, &receiver, "/paused", &webhook.id, &delivery).await;
}

async fn a_delivery_retried_while_its_webhook_is_paused_waits_for_the_resume(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/retried"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    let delivery = app.deliveries_of(&webhook.id).await[0].id.clone();
    app.wait_for_delivery(&delivery, WAIT, |d| d.status() == DeliveryStatus::Succeeded)
        .await;
    app.set_enabled(&webhook.id, false).await;

    let retried = retry(&app, &delivery).await.unwrap();
    assert_eq!(retried.status(), DeliveryStatus::Pending);
    assert_no_work_to_claim(&app).await;
    assert_eq!(receiver.received("/retried").len(), 1);

    resume_and_see_it_sent(&app, &receiver, "/retried", &webhook.id, &delivery).await;
}

async fn an_attempt_in_flight_at_the_pause_is_recorded_and_its_retry_waits(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.script(
        "/slow",
        [Reply::status(500).after(Duration::from_millis(500))],
    );
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "100ms".into();
    })
    .await;
    let webhook = app
        .subscribe(&receiver.url("/slow"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    // On the wire (its answer comes in 500 ms) when the pause commits.
    receiver.wait_for("/slow", 1, WAIT).await;
    app.set_enabled(&webhook.id, false).await;
    let delivery = app.deliveries_of(&webhook.id).await[0].id.clone();
    let recorded = app
        .wait_for_delivery(&delivery, WAIT, |d| d.attempt_count == 1)
        .await;
    assert_eq!(recorded.status(), DeliveryStatus::Pending);
    // Once its retry is due, it is still no work to claim.
    let due = time(&recorded.next_attempt_at);
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_no_work_to_claim(&app).await;
    assert_eq!(receiver.received("/slow").len(), 1);

    resume_and_see_it_sent(&app, &receiver, "/slow", &webhook.id, &delivery).await;
}
