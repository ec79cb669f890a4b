//! GetWebhookStats: one webhook's last 24 hours, by status, and its newest
//! delivery, over gRPC and REST, with the access rules of ListDeliveries.

use std::time::Duration;

use serde_json::json;
use tonic::Code;
use webhook_service::grpc::proto::{DeliveryStatus, GetWebhookStatsRequest, WebhookStats};

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::rest::json_of;
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, spawn_app, spawn_app_with,
    time,
};

on_every_backend!(
    stats_count_the_webhooks_own_deliveries_by_status_and_show_its_newest,
    stats_of_an_unknown_or_foreign_webhook_are_not_found_and_need_an_admin,
);

const WAIT: Duration = Duration::from_secs(10);

async fn stats_as(
    app: &TestApp,
    webhook_id: &str,
    token: &str,
) -> Result<WebhookStats, tonic::Status> {
    let request = GetWebhookStatsRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook_id.to_owned(),
    };
    app.webhooks()
        .await
        .get_webhook_stats(authorized(request, token))
        .await
        .map(|r| r.into_inner())
}

async fn stats_count_the_webhooks_own_deliveries_by_status_and_show_its_newest(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let token = app.token("OWNER");
    let counted = app
        .subscribe(&receiver.url("/counted"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let other = app
        .subscribe(&receiver.url("/other"), &["member.removed"])
        .await
        .webhook
        .unwrap();

    // Nothing yet: zeros, no last delivery.
    let before = chrono::Utc::now();
    let empty = stats_as(&app, &counted.id, &token).await.unwrap();
    assert_eq!(
        (
            empty.succeeded,
            empty.failed,
            empty.pending,
            empty.cancelled
        ),
        (0, 0, 0, 0)
    );
    assert!(!empty.capped && empty.last_delivery.is_none(), "{empty:?}");
    let window = time(&empty.window_start);
    let day = chrono::TimeDelta::hours(24);
    assert!(
        window <= before - day + chrono::TimeDelta::seconds(5),
        "{empty:?}"
    );
    assert!(
        window >= before - day - chrono::TimeDelta::seconds(5),
        "{empty:?}"
    );

    receiver.always("/counted", 200);
    receiver.always("/other", 200);
    for n in 0..2 {
        app.publish("member.added", json!({ "n": n }), "")
            .await
            .unwrap();
    }
    app.publish("member.removed", json!({}), "").await.unwrap();
    app.wait_until_settled(WAIT).await;
    receiver.always("/counted", 503);
    app.publish("member.added", json!({ "n": 2 }), "")
        .await
        .unwrap();
    app.wait_until_settled(WAIT).await;

    let stats = stats_as(&app, &counted.id, &token).await.unwrap();
    assert_eq!(
        (
            stats.succeeded,
            stats.failed,
            stats.pending,
            stats.cancelled
        ),
        (2, 1, 0, 0),
        "{stats:?}"
    );
    assert!(!stats.capped);
    let last = stats.last_delivery.clone().unwrap();
    assert_eq!(last.status, DeliveryStatus::Failed as i32, "{last:?}");
    assert_eq!(last.id, app.deliveries_of(&counted.id).await[0].id);
    assert!(last.attempts.is_empty() && last.payload.is_empty());
    let others = stats_as(&app, &other.id, &token).await.unwrap();
    assert_eq!((others.succeeded, others.failed), (1, 0), "{others:?}");

    // REST answers the same, window aside (it is "now" minus a day).
    let rest = app
        .rest()
        .call(
            "GET",
            &app.org_path(&format!("/webhooks/{}/stats", counted.id)),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(rest.status, 200, "{rest:?}");
    let mut body = rest.body.clone();
    let mut grpc = json_of(&stats);
    body.as_object_mut().unwrap().remove("windowStart");
    grpc.as_object_mut().unwrap().remove("windowStart");
    assert_eq!(body, grpc);
}

async fn stats_of_an_unknown_or_foreign_webhook_are_not_found_and_need_an_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let webhook = app
        .subscribe("https://hooks.example.com/stats", &["member.added"])
        .await
        .webhook
        .unwrap();
    let owner = app.token("OWNER");
    let unknown = uuid::Uuid::now_v7().to_string();
    let status = stats_as(&app, &unknown, &owner).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let foreign = uuid::Uuid::now_v7();
    let theirs = app
        .subscribe_for(
            foreign,
            "https://hooks.example.com/theirs",
            &["member.added"],
        )
        .await
        .webhook
        .unwrap();
    let status = stats_as(&app, &theirs.id, &owner).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = stats_as(&app, "not-a-uuid", &owner).await.unwrap_err();
    assert_field_violation(&status, "webhook_id");
    let status = stats_as(&app, &webhook.id, &app.token("MEMBER"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    stats_as(&app, &webhook.id, &app.token("ADMIN"))
        .await
        .unwrap();
}
