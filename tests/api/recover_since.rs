//! RecoverWebhook's `since` is a time both databases store and compare as a
//! time: years 0001 to 9999. Outside that it is INVALID_ARGUMENT naming
//! `since` and the range; inside it, "newer than" holds to the nanosecond,
//! at the edges too.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::json;
use tonic::Status;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, spawn_app_with,
};
use webhook_service::grpc::proto::{DeliveryStatus, RecoverWebhookRequest};
use webhook_service::grpc::timestamp::Timestamp;

on_every_backend!(
    a_since_outside_years_1_to_9999_is_invalid_argument_and_recovers_nothing,
    since_compares_as_a_time_at_the_edges_of_the_range_and_to_the_nanosecond,
);

const WAIT: Duration = Duration::from_secs(10);

/// A service whose deliveries fail at their only attempt (never disabled:
/// the default limit is days), with a webhook and two failed deliveries, of
/// two events stored one after the other. Returns the app, the webhook id
/// and the events' `created_at`, older first.
async fn two_failed_deliveries(
    backend: Backend,
    receiver: &Receiver,
) -> (TestApp, String, [DateTime<Utc>; 2]) {
    receiver.always("/since", 500);
    let app = spawn_app_with(backend, |s| {
        deliver_to(receiver)(s);
        s.retry_schedule = "".into();
    })
    .await;
    let webhook = app
        .subscribe(&receiver.url("/since"), &["member.added"])
        .await
        .webhook
        .unwrap();
    for n in 0..2 {
        app.publish("member.added", json!({ "n": n }), "")
            .await
            .unwrap();
    }
    wait_until_failed(&app, &webhook.id, 2).await;
    let stored: Vec<DateTime<Utc>> = app
        .query(
            "SELECT created_at FROM events WHERE event_type = 'member.added' ORDER BY created_at",
        )
        .await
        .iter()
        .map(|row| row.try_get("", "created_at").unwrap())
        .collect();
    let created = stored.try_into().expect("two events");
    (app, webhook.id, created)
}

/// Waits until the webhook has `count` deliveries, every one failed.
async fn wait_until_failed(app: &TestApp, webhook_id: &str, count: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let deliveries = app.deliveries_of(webhook_id).await;
        if deliveries.len() == count
            && deliveries
                .iter()
                .all(|d| d.status() == DeliveryStatus::Failed)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never all failed: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn recover(app: &TestApp, webhook_id: &str, since: Timestamp) -> Result<u32, Status> {
    let request = RecoverWebhookRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook_id.to_owned(),
        since: Some(since),
    };
    app.webhooks()
        .await
        .recover_webhook(authorized(request, &app.token("OWNER")))
        .await
        .map(|r| r.into_inner().deliveries_scheduled)
}

fn at(t: DateTime<Utc>) -> Timestamp {
    t.into()
}

/// Midnight UTC on the first of January of `year` (astronomical: 0 is 1 BC).
fn new_year(year: i32) -> Timestamp {
    at(NaiveDate::from_ymd_opt(year, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc())
}

async fn a_since_outside_years_1_to_9999_is_invalid_argument_and_recovers_nothing(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let (app, webhook, _) = two_failed_deliveries(backend, &receiver).await;
    let just_before_year_1 = Timestamp {
        seconds: new_year(1).seconds - 1,
        nanos: 999_999_999,
    };
    for since in [
        new_year(10000),
        new_year(12000),
        just_before_year_1,
        // 4714 BC: before anything PostgreSQL stores.
        new_year(-4713),
        new_year(-200_000),
        // Beyond any calendar.
        Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        },
    ] {
        let status = recover(&app, &webhook, since).await.unwrap_err();
        let why = assert_field_violation(&status, "since");
        assert!(
            why.contains("0001-01-01T00:00:00Z") && why.contains("9999-12-31T23:59:59.999999999Z"),
            "{since:?}: {why}"
        );
    }
    // Nothing was scheduled again.
    let deliveries = app.deliveries_of(&webhook).await;
    assert!(
        deliveries
            .iter()
            .all(|d| d.status() == DeliveryStatus::Failed),
        "{deliveries:?}"
    );
}

async fn since_compares_as_a_time_at_the_edges_of_the_range_and_to_the_nanosecond(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let (app, webhook, [_, newer]) = two_failed_deliveries(backend, &receiver).await;
    let last_instant = Timestamp {
        seconds: new_year(10000).seconds - 1,
        nanos: 999_999_999,
    };
    assert_eq!(recover(&app, &webhook, last_instant).await.unwrap(), 0);
    // Not newer than itself; newer than a nanosecond before.
    assert_eq!(recover(&app, &webhook, at(newer)).await.unwrap(), 0);
    let just_before = at(newer - TimeDelta::nanoseconds(1));
    assert_eq!(recover(&app, &webhook, just_before).await.unwrap(), 1);
    receiver.wait_for("/since", 3, WAIT).await;
    wait_until_failed(&app, &webhook, 2).await;
    // Everything failed is newer than the first instant of year 1.
    assert_eq!(recover(&app, &webhook, new_year(1)).await.unwrap(), 2);
    receiver.wait_for("/since", 5, WAIT).await;
    wait_until_failed(&app, &webhook, 2).await;
}
