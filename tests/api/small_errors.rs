//! Errors stay small, whatever the request: lists have a bound, at most ten
//! violations are reported (with a count of the rest), and a value quoted
//! back is cut short, so that `grpc-message` and `grpc-status-details-bin`
//! together stay far under the 16 KiB of metadata that gRPC clients such as
//! grpcio read.

use tonic::{Code, Status};

use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, field_mask, publisher_token, spawn_app,
};
use tonic_types::StatusExt;
use webhook_service::grpc::proto::{
    ListDeliveriesRequest, PublishEventRequest, UpdateWebhookRequest,
};

/// What an error costs in metadata: `grpc-message` (percent-encoded) and
/// `grpc-status-details-bin` (base64), as the server wrote them (tonic
/// encodes both the one way; decoding and encoding again gives them back).
fn error_metadata_bytes(status: &Status) -> usize {
    let copy = Status::with_details(
        status.code(),
        status.message(),
        status.details().to_vec().into(),
    );
    let answer = copy.into_http::<()>();
    let headers = answer.headers();
    ["grpc-message", "grpc-status-details-bin"]
        .iter()
        .filter_map(|name| headers.get(*name).map(|v| name.len() + v.len()))
        .sum()
}

/// Well under grpcio's 16 KiB, room left for the other headers.
const SMALL: usize = 4 * 1024;

fn assert_small(status: &Status) {
    let size = error_metadata_bytes(status);
    assert!(size < SMALL, "{size} bytes of error metadata: {status:?}");
}

async fn update(app: &TestApp, request: UpdateWebhookRequest) -> Status {
    app.webhooks()
        .await
        .update_webhook(authorized(request, &app.token("OWNER")))
        .await
        .unwrap_err()
}

fn update_request(app: &TestApp, paths: &[&str]) -> UpdateWebhookRequest {
    UpdateWebhookRequest {
        organization_id: app.organization.to_string(),
        webhook_id: uuid::Uuid::new_v4().to_string(),
        update_mask: field_mask(paths),
        ..Default::default()
    }
}

#[tokio::test]
async fn two_thousand_unknown_event_names_make_a_small_error() {
    let app = spawn_app(Backend::Sqlite).await;
    let names: Vec<String> = (0..2000).map(|i| format!("event.{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let status = app
        .create_webhook(app.create_request("https://hooks.example.com/a", &names))
        .await
        .unwrap_err();
    let description = assert_field_violation(&status, "events");
    assert!(description.contains("at most 100"), "{description}");
    assert_small(&status);

    let body = serde_json::json!({"url": "https://hooks.example.com/a", "events": names});
    let answer = app.create_over_rest(Some(&app.token("OWNER")), &body).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(
        serde_json::to_vec(&answer.body).unwrap().len() < SMALL,
        "{answer:?}"
    );
}

#[tokio::test]
async fn lists_longer_than_their_bound_are_one_violation() {
    let app = spawn_app(Backend::Sqlite).await;
    let status = app
        .create_webhook(app.create_request("https://hooks.example.com/a", &["member.added"; 101]))
        .await
        .unwrap_err();
    let description = assert_field_violation(&status, "events");
    assert_eq!(
        description,
        "names 101 event types; at most 100 are accepted"
    );
    app.create_webhook(app.create_request("https://hooks.example.com/a", &["member.added"; 100]))
        .await
        .expect("100 names, duplicates kept once");

    let status = update(&app, update_request(&app, &["enabled"; 21])).await;
    let description = assert_field_violation(&status, "update_mask");
    assert_eq!(description, "names 21 fields; at most 20 are accepted");
    let bad_request = status.get_details_bad_request().unwrap();
    assert_eq!(bad_request.field_violations.len(), 1, "{status:?}");
}

#[tokio::test]
async fn at_most_ten_violations_are_reported_with_a_count_of_the_rest() {
    let app = spawn_app(Backend::Sqlite).await;
    let paths: Vec<String> = (0..15).map(|i| format!("secret_{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let status = update(&app, update_request(&app, &paths)).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations.len(), 11, "{violations:?}");
    assert!(violations[..10].iter().all(|v| v.field == "update_mask"));
    assert!(
        violations[9].description.contains("secret_9"),
        "{violations:?}"
    );
    assert_eq!(violations[10].field, "");
    assert_eq!(
        violations[10].description,
        "and 5 more violations, not shown"
    );
    assert!(
        status
            .message()
            .ends_with("; and 5 more violations, not shown"),
        "{}",
        status.message()
    );
}

/// Text of `bytes` UTF-8 bytes, all of it escaped in `grpc-message`.
fn wide(bytes: usize) -> String {
    "é".repeat(bytes / 2)
}

#[tokio::test]
async fn the_worst_request_of_each_rpc_makes_a_small_error() {
    let app = spawn_app(Backend::Sqlite).await;

    // Every field wrong, each as long as the message's cap lets it be.
    let names: Vec<String> = (0..100).map(|_| wide(400)).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut create = app.create_request(&format!("https://{}", wide(12_000)), &names);
    create.organization_id = wide(4_000);
    create.description = wide(6_000);
    let status = app
        .webhooks()
        .await
        .create_webhook(authorized(create.clone(), &publisher_token()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    create.organization_id = app.organization.to_string();
    let status = app.create_webhook(create).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_small(&status);

    let mut update_all = update_request(&app, &[]);
    let paths: Vec<String> = (0..20).map(|_| wide(1_000)).collect();
    update_all.update_mask = Some(pbjson_types::FieldMask { paths });
    update_all.webhook_id = wide(10_000);
    let status = update(&app, update_all).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_small(&status);

    let list = ListDeliveriesRequest {
        organization_id: app.organization.to_string(),
        webhook_id: wide(10_000),
        event_type: wide(20_000),
        page_token: wide(20_000),
        page_size: -1,
        status: 99,
        ..Default::default()
    };
    let status = app
        .webhooks()
        .await
        .list_deliveries(authorized(list, &app.token("OWNER")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_small(&status);

    let publish = PublishEventRequest {
        organization_id: wide(300_000),
        r#type: wide(600_000),
        data: None,
        idempotency_key: wide(600_000),
        ..Default::default()
    };
    let status = app
        .events()
        .await
        .publish_event(authorized(publish, &publisher_token()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_small(&status);
}

#[tokio::test]
async fn six_hundred_thousand_names_are_refused_for_their_size_in_a_small_error() {
    let app = spawn_app(Backend::Sqlite).await;
    // 1.8 MB: under tonic's own 4 MB.
    let status = app
        .create_webhook(app.create_request("https://hooks.example.com/a", &["x"; 600_000]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // The server's answer, not the client's complaint about its size.
    assert!(status.message().contains("65536"), "{status:?}");
    assert_small(&status);
}
