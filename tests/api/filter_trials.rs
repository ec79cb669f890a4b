//! TestWebhookFilter: a webhook's filter, or one being written, evaluated
//! on a sample event, over gRPC and REST, with nothing stored or sent.

use std::collections::HashMap;

use serde_json::{Value, json};
use tonic::Status;

use crate::filters::{filtered, stored_deliveries};
use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, deliver_to, spawn_app_with, to_struct,
};
use webhook_service::grpc::proto::{TestWebhookFilterRequest, TestWebhookFilterResponse};

on_every_backend!(
    test_webhook_filter_evaluates_without_sending,
    filters_over_rest_are_set_shown_and_tried,
);

async fn test_filter(
    app: &TestApp,
    request: TestWebhookFilterRequest,
) -> Result<TestWebhookFilterResponse, Status> {
    app.webhooks()
        .await
        .test_webhook_filter(authorized(request, &app.token("ADMIN")))
        .await
        .map(|r| r.into_inner())
}

async fn test_webhook_filter_evaluates_without_sending(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let webhook = filtered(&app, &receiver, "/w", "data.amount > 1000").await;
    let sample = |amount: Value| TestWebhookFilterRequest {
        organization_id: app.organization.to_string(),
        webhook_id: webhook.id.clone(),
        r#type: "invoice.paid".into(),
        labels: HashMap::from([("region".to_owned(), "eu".to_owned())]),
        data: Some(to_struct(json!({ "amount": amount }))),
        ..Default::default()
    };
    let yes = test_filter(&app, sample(json!(1500))).await.unwrap();
    assert_eq!((yes.matched, yes.error.as_str()), (true, ""));
    let no = test_filter(&app, sample(json!(10))).await.unwrap();
    assert_eq!((no.matched, no.error.as_str()), (false, ""));
    let failed = test_filter(&app, sample(json!("a lot"))).await.unwrap();
    assert!(!failed.matched);
    assert!(
        !failed.error.is_empty(),
        "a string compared to a number fails"
    );

    // A filter being written, instead of the webhook's.
    let mut written = sample(json!(1));
    written.webhook_id.clear();
    written.filter = "labels.region == 'eu' && type.startsWith('invoice.')".into();
    assert!(test_filter(&app, written.clone()).await.unwrap().matched);
    written.filter = "labels.region ==".into();
    let status = test_filter(&app, written.clone()).await.unwrap_err();
    assert!(assert_field_violation(&status, "filter").starts_with("line 1, column "));
    // Neither, or both.
    written.filter.clear();
    assert_field_violation(
        &test_filter(&app, written.clone()).await.unwrap_err(),
        "filter",
    );
    written.filter = "true".into();
    written.webhook_id = webhook.id.clone();
    assert_field_violation(&test_filter(&app, written).await.unwrap_err(), "filter");

    assert_eq!(receiver.total(), 0, "nothing was sent");
    assert_eq!(stored_deliveries(&app, &webhook.id).await, 0);
}

async fn filters_over_rest_are_set_shown_and_tried(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let token = app.token("OWNER");
    let rest = app.rest();
    let created = app
        .create_over_rest(
            Some(&token),
            &json!({
                "url": "https://hooks.example.com/rest",
                "events": ["member.added"],
                "filter": "labels.region == 'eu'",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["webhook"]["filter"], "labels.region == 'eu'");

    let path = format!("/v1/organizations/{}:testWebhookFilter", app.organization);
    let sample = json!({
        "webhookId": created.body["webhook"]["id"],
        "type": "member.added",
        "labels": {"region": "eu"},
        "data": {"user": "u1"},
    });
    let tried = rest.call("POST", &path, Some(&token), Some(&sample)).await;
    assert_eq!(tried.status, 200, "{tried:?}");
    assert_eq!(tried.body["matched"], true);

    let bad = json!({"filter": "labels.region ==", "type": "member.added"});
    let refused = rest.call("POST", &path, Some(&token), Some(&bad)).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let violations = refused.violations();
    assert_eq!(violations[0].0, "filter", "{violations:?}");
    assert!(
        violations[0].1.starts_with("line 1, column "),
        "{violations:?}"
    );
}
