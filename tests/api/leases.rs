//! Leases on the store itself: a process that gives a delivery back late,
//! after its lease ran out and another claimer took it, leaves it with them.

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

use crate::support::{Backend, deliver_to, spawn_app_at};
use webhook_service::domain::OrganizationId;
use webhook_service::store::{SecretBox, Store};

on_every_backend!(
    a_late_release_does_not_free_a_delivery_another_claimer_holds,
    only_organizations_with_due_unleased_deliveries_have_work_to_claim,
);

/// An app on a database of its own, that the test then opens itself, whose
/// failed deliveries wait an hour for their retry; and that database's URL.
async fn app_retrying_in_an_hour(
    backend: Backend,
    receiver: &Receiver,
    dir: &tempfile::TempDir,
) -> (crate::support::TestApp, String) {
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("store.db").display()),
        Backend::Postgres => crate::support::postgres::fresh_database().unwrap(),
    };
    let app = spawn_app_at(url.clone(), |s| {
        deliver_to(receiver)(s);
        s.retry_schedule = "1h".into();
    })
    .await;
    (app, url)
}

async fn a_late_release_does_not_free_a_delivery_another_claimer_holds(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.always("/leased", 500);
    let dir = tempfile::tempdir().unwrap();
    let (app, url) = app_retrying_in_an_hour(backend, &receiver, &dir).await;
    let webhook = app
        .subscribe(&receiver.url("/leased"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver
        .wait_for("/leased", 1, Duration::from_secs(10))
        .await;
    let delivery = app.deliveries_of(&webhook.id).await[0].id.clone();
    app.wait_for_delivery(&delivery, Duration::from_secs(10), |d| d.attempt_count == 1)
        .await;
    let app_organization = app.organization;
    app.stop_within(Duration::from_secs(10)).await;
    let delivery = uuid::Uuid::parse_str(&delivery).unwrap();

    // Two claimers on the store, the first one slow.
    let organization = webhook_service::domain::OrganizationId::from_uuid(app_organization);
    let store = Store::connect(&url, SecretBox::new(None)).await.unwrap();
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let due_now = Query::update()
        .table(Alias::new("deliveries"))
        .value(
            Alias::new("next_attempt_at"),
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .to_owned();
    db.execute(&due_now).await.unwrap();
    let first = store
        .claim_due(organization, 10, Duration::from_millis(1), &[])
        .await
        .unwrap()
        .deliveries;
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = store
        .claim_due(organization, 10, Duration::from_secs(60), &[])
        .await
        .unwrap()
        .deliveries;
    assert_eq!(second.len(), 1, "the first lease ran out");
    assert_eq!(second[0].id.as_uuid(), delivery);

    store.release(&[first[0].lease]).await.unwrap();

    let third = store
        .claim_due(organization, 10, Duration::from_secs(60), &[])
        .await
        .unwrap()
        .deliveries;
    assert!(third.is_empty(), "the second claimer's lease was cleared");
    store.release(&[second[0].lease]).await.unwrap();
    let fourth = store
        .claim_due(organization, 10, Duration::from_secs(60), &[])
        .await
        .unwrap()
        .deliveries;
    assert_eq!(fourth.len(), 1, "its holder can give it back");
    db.close().await.unwrap();
}

/// The claim loop shares the slots among the organizations that have work to
/// claim: one whose pending deliveries are all in flight or not yet due must
/// not count, or it would hold the busy ones to a share it never takes.
async fn only_organizations_with_due_unleased_deliveries_have_work_to_claim(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.always("/failing", 500);
    let dir = tempfile::tempdir().unwrap();
    let (app, url) = app_retrying_in_an_hour(backend, &receiver, &dir).await;
    let (later, due) = (app.organization, uuid::Uuid::new_v4());
    app.subscribe(&receiver.url("/failing"), &["member.added"])
        .await;
    app.subscribe_for(due, &receiver.url("/failing"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();
    app.publish_for(due, "member.added").await.unwrap();
    receiver
        .wait_for("/failing", 2, Duration::from_secs(10))
        .await;
    // Stopping records the attempts in flight.
    app.stop_within(Duration::from_secs(10)).await;

    // Both wait for their retry in an hour; one is due now.
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let due_now = Query::update()
        .table(Alias::new("deliveries"))
        .value(
            Alias::new("next_attempt_at"),
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .and_where(Expr::col(Alias::new("organization_id")).eq(due))
        .to_owned();
    db.execute(&due_now).await.unwrap();
    let store = Store::connect(&url, SecretBox::new(None)).await.unwrap();
    let ids = |found: &[OrganizationId]| found.iter().map(|o| o.as_uuid()).collect::<Vec<_>>();
    let found = store.organizations_with_pending(None, 64).await.unwrap();
    assert_eq!(ids(&found.claimable), [due], "only the due one has work");
    assert_eq!(found.next, None, "the look reached the end");

    // Once it is in flight, neither has.
    let due_org = OrganizationId::from_uuid(due);
    let claimed = store
        .claim_due(due_org, 10, Duration::from_secs(60), &[])
        .await
        .unwrap()
        .deliveries;
    assert_eq!(claimed.len(), 1);
    let found = store.organizations_with_pending(None, 64).await.unwrap();
    assert!(found.claimable.is_empty(), "{:?}", found.claimable);

    // A look that stops at its limit says where the next one starts.
    let mut both = [later, due];
    both.sort();
    let first = store.organizations_with_pending(None, 1).await.unwrap();
    assert_eq!(first.next.map(|o| o.as_uuid()), Some(both[0]));
    let rest = store
        .organizations_with_pending(first.next, 1)
        .await
        .unwrap();
    assert_eq!(rest.next.map(|o| o.as_uuid()), Some(both[1]));
    db.close().await.unwrap();
}
