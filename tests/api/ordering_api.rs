//! Ordering on the API: a webhook's `ordering` set at creation and read
//! back everywhere, over gRPC and REST; an event's `ordering_key` checked.

use serde_json::json;

use crate::on_every_backend;
use crate::support::catalogue::violations;
use crate::support::{Backend, authorized, publisher_token, spawn_app};
use webhook_service::grpc::proto::{Ordering, PublishEventRequest};

on_every_backend!(
    a_webhooks_ordering_is_stored_and_read_back_by_get_and_list,
    an_ordering_the_service_does_not_know_is_refused_on_its_field,
    an_ordering_key_over_128_characters_or_with_nul_is_refused_on_its_field,
    ordering_and_ordering_key_travel_over_rest_as_names_and_camel_case,
);

async fn a_webhooks_ordering_is_stored_and_read_back_by_get_and_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = app.create_request("https://hooks.example.com/ordered", &["member.added"]);
    request.ordering = Ordering::Ordered.into();
    let ordered = app.create_webhook(request).await.unwrap().webhook.unwrap();
    assert_eq!(ordered.ordering(), Ordering::Ordered);
    let plain = app
        .subscribe("https://hooks.example.com/plain", &["member.added"])
        .await
        .webhook
        .unwrap();
    assert_eq!(plain.ordering(), Ordering::Unordered, "the default");

    assert_eq!(
        app.get_webhook(&ordered.id).await.unwrap().ordering(),
        Ordering::Ordered
    );
    assert_eq!(
        app.get_webhook(&plain.id).await.unwrap().ordering(),
        Ordering::Unordered
    );
    let listed = app.list_webhooks().await;
    let orderings: Vec<(String, Ordering)> = listed
        .iter()
        .map(|w| (w.id.clone(), w.ordering()))
        .collect();
    assert!(
        orderings.contains(&(ordered.id.clone(), Ordering::Ordered)),
        "{orderings:?}"
    );
    assert!(
        orderings.contains(&(plain.id.clone(), Ordering::Unordered)),
        "{orderings:?}"
    );
}

async fn an_ordering_the_service_does_not_know_is_refused_on_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = app.create_request("https://hooks.example.com/odd", &["member.added"]);
    request.ordering = 7;
    let status = app.create_webhook(request).await.unwrap_err();
    let refused = violations(&status);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "ordering");
    assert!(refused[0].1.contains("7 is not an ordering"), "{refused:?}");
    // Reported with the other fields' violations.
    let mut request = app.create_request("ftp://nowhere", &["member.added"]);
    request.ordering = -1;
    let status = app.create_webhook(request).await.unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["url", "ordering"]);
}

async fn an_ordering_key_over_128_characters_or_with_nul_is_refused_on_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let publish = |key: String| {
        let request = PublishEventRequest {
            organization_id: app.organization.to_string(),
            r#type: "member.added".into(),
            ordering_key: key,
            ..Default::default()
        };
        let app = &app;
        async move {
            app.events()
                .await
                .publish_event(authorized(request, &publisher_token()))
                .await
        }
    };
    // 128 characters of four UTF-8 bytes each: accepted.
    publish("𝄞".repeat(128)).await.expect("128 characters");
    for (key, says) in [
        ("k".repeat(129), "129 characters"),
        ("a\0b".to_owned(), "NUL"),
    ] {
        let status = publish(key).await.unwrap_err();
        let refused = violations(&status);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, "ordering_key");
        assert!(refused[0].1.contains(says), "{refused:?}");
    }
}

async fn ordering_and_ordering_key_travel_over_rest_as_names_and_camel_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let body = json!({
        "url": "https://hooks.example.com/rest-ordered",
        "events": ["member.added"],
        "ordering": "ORDERING_ORDERED",
    });
    let answer = app.create_over_rest(Some(&token), &body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["webhook"]["ordering"], "ORDERING_ORDERED");
    let id = answer.body["webhook"]["id"].as_str().unwrap();
    assert_eq!(
        app.get_webhook(id).await.unwrap().ordering(),
        Ordering::Ordered
    );

    let published = app
        .publish_over_rest(&json!({"type": "member.added", "data": {}, "orderingKey": "a"}))
        .await;
    assert_eq!(published.status, 200, "{published:?}");
    let refused = app
        .publish_over_rest(
            &json!({"type": "member.added", "data": {}, "orderingKey": "k".repeat(129)}),
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let fields: Vec<String> = refused.violations().into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["orderingKey"]);
}
