//! The REST face's delivery, recovery, publishing and event type routes
//! answer what the gRPC API answers to the same requests.

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::rest::json_of;
use crate::support::{Backend, authorized, deliver_to, publisher_token, spawn_app, spawn_app_with};
use webhook_service::grpc::proto::{
    DeliveryStatus, ListDeliveriesRequest, ListEventTypesRequest, RecoverWebhookRequest,
};

on_every_backend!(
    a_test_event_sent_over_rest_is_read_back_as_grpc_reads_it,
    a_delivery_retried_over_rest_is_pending_again,
    recovering_over_rest_answers_as_the_rpc_does,
    an_event_published_over_rest_arrives_with_its_data_and_is_stored_once,
    event_types_over_rest_are_those_of_grpc,
);

const WAIT: Duration = Duration::from_secs(10);

async fn a_test_event_sent_over_rest_is_read_back_as_grpc_reads_it(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/rest-ping"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let token = app.token("OWNER");
    let rest = app.rest();

    let sent = rest
        .call(
            "POST",
            &app.org_path(&format!("/webhooks/{}:sendTestEvent", webhook.id)),
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let delivery_id = sent.body["deliveryId"].as_str().unwrap();
    let got = &receiver.wait_for("/rest-ping", 1, WAIT).await[0];
    assert_eq!(got.json()["id"], sent.body["eventId"]);
    let delivered = app
        .wait_for_delivery(delivery_id, WAIT, |d| {
            d.status == DeliveryStatus::Succeeded as i32
        })
        .await;

    let read = rest
        .call(
            "GET",
            &app.org_path(&format!("/deliveries/{delivery_id}")),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body, json_of(&delivered));
    assert_eq!(read.body["status"], "DELIVERY_STATUS_SUCCEEDED");
    assert_eq!(read.body["attempts"][0]["statusCode"], 200);
    assert_eq!(read.body["payload"].as_str().unwrap().as_bytes(), got.body);

    let query = format!(
        "/deliveries?webhookId={}&status=DELIVERY_STATUS_SUCCEEDED&eventType=webhook.ping&pageSize=5",
        webhook.id
    );
    let listed = rest
        .call("GET", &app.org_path(&query), Some(&token), None)
        .await;
    let request = ListDeliveriesRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook.id.clone(),
        status: DeliveryStatus::Succeeded as i32,
        event_type: "webhook.ping".into(),
        page_size: 5,
        page_token: String::new(),
        ..Default::default()
    };
    let grpc = app
        .webhooks()
        .await
        .list_deliveries(authorized(request, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body, json_of(&grpc));
    assert_eq!(listed.body["deliveries"].as_array().unwrap().len(), 1);
}

async fn a_delivery_retried_over_rest_is_pending_again(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/rest-retry"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();
    receiver.wait_for("/rest-retry", 1, WAIT).await;
    let settled = app.wait_until_settled(WAIT).await;
    assert_eq!(settled, [("succeeded".to_owned(), 1)]);
    let delivery = app
        .list_deliveries(Default::default())
        .await
        .unwrap()
        .remove(0);

    let retried = app
        .rest()
        .call(
            "POST",
            &app.org_path(&format!("/deliveries/{}:retry", delivery.id)),
            Some(&app.token("OWNER")),
            None,
        )
        .await;

    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.body["id"], delivery.id);
    assert_eq!(retried.body["status"], "DELIVERY_STATUS_PENDING");
    receiver.wait_for("/rest-retry", 2, WAIT).await;
}

async fn recovering_over_rest_answers_as_the_rpc_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let webhook = app
        .subscribe("https://hooks.example.com/recover", &["member.added"])
        .await
        .webhook
        .unwrap();
    let token = app.token("OWNER");
    let path = app.org_path(&format!("/webhooks/{}:recover", webhook.id));
    let since = "2026-01-02T03:04:05.678Z";
    let grpc = |since: Option<webhook_service::grpc::timestamp::Timestamp>| {
        let request = RecoverWebhookRequest {
            organization_id: app.organization.to_string(),
            webhook_id: webhook.id.clone(),
            since,
        };
        let token = token.clone();
        let app = &app;
        async move {
            app.webhooks()
                .await
                .recover_webhook(authorized(request, &token))
                .await
                .map(|r| r.into_inner())
        }
    };
    let timestamp = chrono::DateTime::parse_from_rfc3339(since)
        .unwrap()
        .to_utc();

    let recovered = app
        .rest()
        .call("POST", &path, Some(&token), Some(&json!({"since": since})))
        .await;
    assert_eq!(recovered.status, 200, "{recovered:?}");
    assert_eq!(
        recovered.body,
        json_of(&grpc(Some(timestamp.into())).await.unwrap())
    );

    let without_since = app
        .rest()
        .call("POST", &path, Some(&token), Some(&json!({})))
        .await;
    without_since.assert_same_error_as(&grpc(None).await.unwrap_err(), 400);
    assert_eq!(without_since.violations()[0].0, "since");

    app.set_enabled(&webhook.id, false).await;
    let paused = app
        .rest()
        .call("POST", &path, Some(&token), Some(&json!({"since": since})))
        .await;
    let status = grpc(Some(timestamp.into())).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    paused.assert_same_error_as(&status, 400);
}

async fn an_event_published_over_rest_arrives_with_its_data_and_is_stored_once(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/rest-events"), &["member.added"])
        .await;
    let data = json!({"member": {"id": 42, "roles": ["admin", null, true], "score": 1.5}});
    let body = json!({"type": "member.added", "data": data, "idempotencyKey": "rest-1"});
    let path = app.org_path("/events");

    let published = app
        .rest()
        .call("POST", &path, Some(&publisher_token()), Some(&body))
        .await;

    assert_eq!(published.status, 200, "{published:?}");
    assert_eq!(published.body["deliveriesScheduled"], 1);
    let got = &receiver.wait_for("/rest-events", 1, WAIT).await[0];
    assert_eq!(got.json()["data"], data);
    assert_eq!(got.json()["id"], published.body["eventId"]);

    let grpc = app
        .publish("member.added", data.clone(), "rest-1")
        .await
        .unwrap();
    assert!(grpc.duplicate);
    assert_eq!(published.body["eventId"], grpc.event_id);
    let again = app
        .rest()
        .call("POST", &path, Some(&publisher_token()), Some(&body))
        .await;
    assert_eq!(again.body, json_of(&grpc));
    assert_eq!(again.body["duplicate"], true);
}

async fn event_types_over_rest_are_those_of_grpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("MEMBER");

    let listed = app
        .rest()
        .call("GET", "/v1/eventTypes", Some(&token), None)
        .await;

    let grpc = app
        .webhooks()
        .await
        .list_event_types(authorized(ListEventTypesRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body, json_of(&grpc));
    // In name order, built-in types and others alike.
    assert_eq!(listed.body["eventTypes"][0]["name"], "invite.accepted");
    assert_eq!(listed.body["eventTypes"][0]["builtIn"], true);
}
