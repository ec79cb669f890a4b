//! REST errors: the RPC's status as an HTTP status and a `google.rpc.Status`
//! body, the same code, message and violations the gRPC API answers; and
//! the requests the REST face refuses before they become RPCs.

use serde_json::{Value, json};

use crate::on_every_backend;
use crate::support::{Backend, TestApp, authorized, claims, hs256, spawn_app, spawn_app_with};
use webhook_service::grpc::proto::{CreateWebhookRequest, GetDeliveryRequest, GetWebhookRequest};

on_every_backend!(
    the_seeds_bad_url_is_400_with_the_violations_grpc_names,
    no_token_or_a_bad_token_is_401_like_grpc,
    a_member_or_another_organization_is_403_like_grpc,
    a_bad_id_in_the_path_is_400_naming_its_json_field,
    unknown_ids_are_404_like_grpc,
    a_taken_url_is_409_and_a_full_organization_429,
);

/// The gRPC answer to the same creation.
async fn create_over_grpc(app: &TestApp, token: Option<&str>, body: &Value) -> tonic::Status {
    let request = CreateWebhookRequest {
        organization_id: app.organization.to_string(),
        url: body["url"].as_str().unwrap_or_default().to_owned(),
        events: serde_json::from_value(body["events"].clone()).unwrap_or_default(),
        ..Default::default()
    };
    let request = match token {
        Some(token) => authorized(request, token),
        None => tonic::Request::new(request),
    };
    app.webhooks()
        .await
        .create_webhook(request)
        .await
        .expect_err("the RPC fails too")
}

async fn the_seeds_bad_url_is_400_with_the_violations_grpc_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    for body in [
        json!({"url": "http://hooks.example.com/plain", "events": ["member.added"]}),
        json!({"url": "https://localhost/in", "events": ["member.added"]}),
        json!({"url": "not a url", "events": []}),
    ] {
        let answer = app.create_over_rest(Some(&token), &body).await;
        let status = create_over_grpc(&app, Some(&token), &body).await;
        answer.assert_same_error_as(&status, 400);
        assert_eq!(answer.violations()[0].0, "url", "{answer:?}");
        assert_eq!(
            answer.body["details"][0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
    }
}

async fn no_token_or_a_bad_token_is_401_like_grpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"url": "https://hooks.example.com/a", "events": ["member.added"]});
    let mut expired = claims(app.organization, "OWNER");
    expired["exp"] = json!(1);
    for token in [None, Some("not-a-jwt".to_owned()), Some(hs256(&expired))] {
        let token = token.as_deref();
        let answer = app.create_over_rest(token, &body).await;
        answer.assert_same_error_as(&create_over_grpc(&app, token, &body).await, 401);
    }
    let basic = app
        .rest()
        .send(
            "GET",
            "/v1/eventTypes",
            &[("authorization", "Basic dXNlcjpwYXNz")],
            Vec::new(),
        )
        .await;
    assert_eq!((basic.status, &basic.body["code"]), (401, &json!(16)));
}

async fn a_member_or_another_organization_is_403_like_grpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"url": "https://hooks.example.com/a", "events": ["member.added"]});
    let member = app.token("MEMBER");
    let answer = app.create_over_rest(Some(&member), &body).await;
    answer.assert_same_error_as(&create_over_grpc(&app, Some(&member), &body).await, 403);

    let stranger = app.token_for(uuid::Uuid::new_v4(), "OWNER");
    let answer = app.create_over_rest(Some(&stranger), &body).await;
    answer.assert_same_error_as(&create_over_grpc(&app, Some(&stranger), &body).await, 403);
}

async fn a_bad_id_in_the_path_is_400_naming_its_json_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let rest = app.rest();

    let answer = rest
        .call(
            "GET",
            &app.org_path("/webhooks/not-a-uuid"),
            Some(&token),
            None,
        )
        .await;
    let request = GetWebhookRequest {
        organization_id: app.organization.to_string(),
        webhook_id: "not-a-uuid".into(),
    };
    let status = app
        .webhooks()
        .await
        .get_webhook(authorized(request, &token))
        .await
        .unwrap_err();
    answer.assert_same_error_as(&status, 400);
    assert_eq!(answer.violations()[0].0, "webhookId");

    let answer = rest
        .call("GET", "/v1/organizations/acme/webhooks", Some(&token), None)
        .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.violations()[0].0, "organizationId");
}

async fn unknown_ids_are_404_like_grpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let id = uuid::Uuid::new_v4().to_string();

    let answer = app
        .rest()
        .call(
            "GET",
            &app.org_path(&format!("/deliveries/{id}")),
            Some(&token),
            None,
        )
        .await;

    let request = GetDeliveryRequest {
        organization_id: app.organization.to_string(),
        delivery_id: id,
    };
    let status = app
        .webhooks()
        .await
        .get_delivery(authorized(request, &token))
        .await
        .unwrap_err();
    answer.assert_same_error_as(&status, 404);
}

async fn a_taken_url_is_409_and_a_full_organization_429(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_webhooks_per_organization = 2).await;
    let token = app.token("OWNER");
    let webhook = |n: u32| json!({"url": format!("https://hooks.example.com/{n}"), "events": ["member.added"]});
    assert_eq!(
        app.create_over_rest(Some(&token), &webhook(1)).await.status,
        201
    );

    let answer = app.create_over_rest(Some(&token), &webhook(1)).await;
    let status = create_over_grpc(&app, Some(&token), &webhook(1)).await;
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
    answer.assert_same_error_as(&status, 409);

    assert_eq!(
        app.create_over_rest(Some(&token), &webhook(2)).await.status,
        201
    );
    let answer = app.create_over_rest(Some(&token), &webhook(3)).await;
    let status = create_over_grpc(&app, Some(&token), &webhook(3)).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    answer.assert_same_error_as(&status, 429);
}
