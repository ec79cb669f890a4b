//! Labels on events: PublishEvent takes them (over gRPC and REST), the body
//! sent to the endpoint carries them (and nothing when there are none),
//! GetDelivery returns them, and each rule is INVALID_ARGUMENT naming its
//! field.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tonic::Status;
use tonic_types::StatusExt;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::rest::json_of;
use crate::support::{
    Backend, TestApp, authorized, deliver_to, publisher_token, spawn_app, spawn_app_with, to_struct,
};
use webhook_service::grpc::proto::{
    Delivery, DeliveryStatus, PublishEventRequest, PublishEventResponse, SendTestEventRequest,
};

on_every_backend!(
    labels_reach_the_endpoint_in_the_body_and_come_back_on_get_delivery,
    an_event_without_labels_is_sent_without_labels,
    labels_published_over_rest_are_sent_and_shown_over_rest,
    each_label_rule_is_invalid_argument_on_its_field_over_grpc_and_rest,
);

const WAIT: Duration = Duration::from_secs(10);

fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> HashMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// PublishEvent of `member.added` with `labels`, as a publisher.
async fn publish(
    app: &TestApp,
    labels: HashMap<String, String>,
) -> Result<PublishEventResponse, Status> {
    let request = PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "member.added".into(),
        data: Some(to_struct(json!({"user_id": "u_42"}))),
        labels,
        ..Default::default()
    };
    app.events()
        .await
        .publish_event(authorized(request, &publisher_token()))
        .await
        .map(|r| r.into_inner())
}

/// The delivery of `event_id` to `webhook_id`, once it succeeded.
async fn delivered(app: &TestApp, webhook_id: &str, event_id: &str) -> Delivery {
    let listed = app.deliveries_of(webhook_id).await;
    let delivery = listed
        .iter()
        .find(|d| d.event_id == event_id)
        .unwrap_or_else(|| panic!("no delivery of {event_id} in {listed:?}"));
    // Listings leave the labels out, as they leave out the payload.
    assert!(delivery.labels.is_empty(), "{delivery:?}");
    app.wait_for_delivery(&delivery.id, WAIT, |d| {
        d.status == DeliveryStatus::Succeeded as i32
    })
    .await
}

async fn labels_reach_the_endpoint_in_the_body_and_come_back_on_get_delivery(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/labelled"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let sent = labels([("team", "core"), ("region", "eu"), ("empty", "")]);
    let published = publish(&app, sent.clone()).await.expect("published");
    assert_eq!(published.deliveries_scheduled, 1);

    let got = &receiver.wait_for("/labelled", 1, WAIT).await[0];
    let body = std::str::from_utf8(&got.body).unwrap();
    // Sorted by key, before `data`: the same bytes whatever order they came in.
    assert!(
        body.contains(r#","labels":{"empty":"","region":"eu","team":"core"},"data":{"#),
        "{body}"
    );
    assert_eq!(got.json()["id"], published.event_id);

    let delivery = delivered(&app, &webhook.id, &published.event_id).await;
    assert_eq!(delivery.labels, sent);
    assert_eq!(delivery.payload.as_bytes(), got.body);
}

async fn an_event_without_labels_is_sent_without_labels(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/plain"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let published = publish(&app, HashMap::new()).await.expect("published");
    let got = &receiver.wait_for("/plain", 1, WAIT).await[0];
    let fields: Vec<String> = got.json().as_object().unwrap().keys().cloned().collect();
    assert!(!fields.contains(&"labels".to_owned()), "{fields:?}");
    assert_eq!(
        fields.len(),
        5,
        "id, type, organization_id, timestamp, data: {fields:?}"
    );
    let delivery = delivered(&app, &webhook.id, &published.event_id).await;
    assert!(delivery.labels.is_empty(), "{delivery:?}");

    // SendTestEvent's ping has none either.
    let ping = app
        .webhooks()
        .await
        .send_test_event(authorized(
            SendTestEventRequest {
                organization_id: app.organization.to_string(),
                webhook_id: webhook.id.clone(),
            },
            &app.token("OWNER"),
        ))
        .await
        .expect("test event sent")
        .into_inner();
    let got = &receiver.wait_for("/plain", 2, WAIT).await[1];
    assert_eq!(got.json()["id"], ping.event_id);
    assert!(got.json().get("labels").is_none(), "{:?}", got.json());
}

async fn labels_published_over_rest_are_sent_and_shown_over_rest(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = app
        .subscribe(&receiver.url("/rest-labelled"), &["member.added"])
        .await
        .webhook
        .unwrap();
    let answer = app
        .publish_over_rest(&json!({
            "type": "member.added",
            "data": {"user_id": "u_7"},
            "labels": {"region": "us", "plan": "pro"},
        }))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let event_id = answer.body["eventId"].as_str().unwrap();

    let got = &receiver.wait_for("/rest-labelled", 1, WAIT).await[0];
    assert_eq!(got.json()["labels"], json!({"plan": "pro", "region": "us"}));

    let delivery = delivered(&app, &webhook.id, event_id).await;
    let read = app
        .rest()
        .call(
            "GET",
            &app.org_path(&format!("/deliveries/{}", delivery.id)),
            Some(&app.token("OWNER")),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["labels"], json!({"plan": "pro", "region": "us"}));
    assert_eq!(read.body, json_of(&delivery));
}

/// The `(field, description)` of each BadRequest violation of `status`.
fn violations(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

async fn each_label_rule_is_invalid_argument_on_its_field_over_grpc_and_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let seventeen: Vec<(String, String)> =
        (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let long_key = "k".repeat(64);
    let long_value = "é".repeat(257);
    let key_rule = "must be 1 to 63 characters, each a-z, 0-9, '_', '.' or '-'";
    let cases: Vec<(HashMap<String, String>, &str, String)> = vec![
        (
            seventeen.into_iter().collect(),
            "labels",
            "holds 17 labels; at most 16 are accepted".into(),
        ),
        (
            labels([("Region", "eu")]),
            "labels",
            format!("key \"Region\" {key_rule}"),
        ),
        (
            labels([(long_key.as_str(), "v")]),
            "labels",
            format!("key \"{}…\" {key_rule}", &long_key[..40]),
        ),
        (
            labels([("", "v")]),
            "labels",
            format!("key \"\" {key_rule}"),
        ),
        (
            labels([("user_tier", long_value.as_str())]),
            "labels/user_tier",
            "is 257 characters; at most 256 are accepted".into(),
        ),
        (
            labels([("region", "e\0u")]),
            "labels/region",
            "must not contain NUL characters".into(),
        ),
    ];
    for (sent, field, description) in cases {
        let status = publish(&app, sent.clone()).await.unwrap_err();
        assert_eq!(
            violations(&status),
            [(field.to_owned(), description.clone())],
            "{sent:?}"
        );
        // REST names the same field: a key is the caller's, not a proto
        // name to write in camelCase.
        let answer = app
            .publish_over_rest(&json!({"type": "member.added", "labels": sent}))
            .await;
        answer.assert_same_error_as(&status, 400);
        assert_eq!(answer.violations(), [(field.to_owned(), description)]);
    }

    // Reported together with the other fields' violations.
    let request = PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "Member.Exploded".into(),
        labels: labels([("Region", "eu"), ("ok", "fine")]),
        ..Default::default()
    };
    let status = app
        .events()
        .await
        .publish_event(authorized(request, &publisher_token()))
        .await
        .unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["type", "labels"]);
}
