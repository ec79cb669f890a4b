//! The REST face's webhook routes answer what the gRPC API answers to the
//! same requests, with the same token, in the proto3 JSON mapping.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::rest::json_of;
use crate::support::{Backend, authorized, field_mask, spawn_app};
use webhook_service::grpc::proto::{ListWebhooksRequest, UpdateWebhookRequest};

on_every_backend!(
    the_seeds_call_creates_a_webhook_and_answers_201_with_its_secret,
    listing_and_reading_webhooks_answer_what_grpc_answers,
    patching_a_webhook_changes_the_fields_its_mask_names,
    a_patch_without_a_mask_is_refused_like_the_rpc_refuses_it,
    deleting_a_webhook_answers_an_empty_object_and_the_webhook_is_gone,
    rotating_a_secret_answers_the_new_secret_and_when_the_old_one_expires,
);

async fn the_seeds_call_creates_a_webhook_and_answers_201_with_its_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token("OWNER");
    let body = json!({"url": "https://hooks.example.com/seed", "events": ["member.added"]});

    let answer = app.create_over_rest(Some(&token), &body).await;

    assert_eq!(answer.status, 201, "{answer:?}");
    let secret = answer.body["secret"].as_str().expect("a secret");
    let key = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    assert_eq!(STANDARD.decode(key).expect("base64").len(), 32);
    let id = answer.body["webhook"]["id"].as_str().expect("an id");
    let stored = app.get_webhook(id).await.expect("stored");
    assert_eq!(answer.body["webhook"], json_of(&stored));
    assert_eq!(
        answer.body["webhook"]["url"],
        "https://hooks.example.com/seed"
    );
    assert_eq!(answer.body["webhook"]["enabled"], true);
    assert!(answer.body["webhook"]["createdAt"].is_string());

    let limited = json!({
        "url": "https://hooks.example.com/limited",
        "events": ["member.added"],
        "rateLimitPerSecond": 7,
    });
    let answer = app.create_over_rest(Some(&token), &limited).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["webhook"]["rateLimitPerSecond"], 7);
}

async fn listing_and_reading_webhooks_answer_what_grpc_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    for n in 0..3 {
        app.subscribe(&format!("https://hooks.example.com/{n}"), &["member.added"])
            .await;
    }
    let token = app.token("ADMIN");
    let rest = app.rest();
    let grpc_page = |page_token: String| ListWebhooksRequest {
        organization_id: app.organization.to_string(),
        page_size: 2,
        page_token,
    };

    let first = rest
        .call(
            "GET",
            &app.org_path("/webhooks?pageSize=2"),
            Some(&token),
            None,
        )
        .await;
    let grpc_first = app
        .webhooks()
        .await
        .list_webhooks(authorized(grpc_page(String::new()), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body, json_of(&grpc_first));
    assert_eq!(first.body["webhooks"].as_array().unwrap().len(), 2);

    // The token goes in the query as it came, in the snake_case spelling too.
    let next = first.body["nextPageToken"].as_str().expect("a next page");
    let query = format!("/webhooks?page_size=2&pageToken={}", urlencode(next));
    let second = rest
        .call("GET", &app.org_path(&query), Some(&token), None)
        .await;
    let grpc_second = app
        .webhooks()
        .await
        .list_webhooks(authorized(grpc_page(next.to_owned()), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.body, json_of(&grpc_second));
    // The last page has no next page token: the field is there, empty.
    assert_eq!(second.body["nextPageToken"], "", "{second:?}");

    let id = second.body["webhooks"][0]["id"].as_str().unwrap();
    let one = rest
        .call(
            "GET",
            &app.org_path(&format!("/webhooks/{id}")),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.body, json_of(&app.get_webhook(id).await.unwrap()));
    assert!(one.body.get("secret").is_none());
}

async fn patching_a_webhook_changes_the_fields_its_mask_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/before", &["member.added"])
        .await;
    let id = created.webhook.unwrap().id;
    let path = app.org_path(&format!("/webhooks/{id}"));
    let token = app.token("OWNER");
    let rest = app.rest();

    // The mask as a query parameter, in camelCase: the URL is left alone.
    let body = json!({
        "url": "https://hooks.example.com/after",
        "description": "billing",
        "enabled": false,
    });
    let query = format!("{path}?updateMask=description,enabled");
    let patched = rest.call("PATCH", &query, Some(&token), Some(&body)).await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let stored = app.get_webhook(&id).await.unwrap();
    assert_eq!(patched.body, json_of(&stored));
    assert_eq!(stored.url, "https://hooks.example.com/before");
    assert_eq!(
        (stored.description.as_str(), stored.enabled),
        ("billing", false)
    );

    // The mask in the body, naming a field in snake_case.
    let body = json!({"rateLimitPerSecond": 5, "updateMask": "rate_limit_per_second,url",
        "url": "https://hooks.example.com/after"});
    let patched = rest.call("PATCH", &path, Some(&token), Some(&body)).await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.body["rateLimitPerSecond"], 5);
    assert_eq!(patched.body["url"], "https://hooks.example.com/after");
    assert_eq!(patched.body, json_of(&app.get_webhook(&id).await.unwrap()));
}

async fn a_patch_without_a_mask_is_refused_like_the_rpc_refuses_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/mask", &["member.added"])
        .await;
    let id = created.webhook.unwrap().id;
    let body = json!({"description": "no mask"});

    let answer = app
        .rest()
        .call(
            "PATCH",
            &app.org_path(&format!("/webhooks/{id}")),
            Some(&app.token("OWNER")),
            Some(&body),
        )
        .await;
    let status = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: id.clone(),
            description: "no mask".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    answer.assert_same_error_as(&status, 400);
    assert_eq!(answer.violations()[0].0, "updateMask");

    let unknown = app
        .update_webhook(UpdateWebhookRequest {
            webhook_id: id.clone(),
            update_mask: field_mask(&["colour"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let answer = app
        .rest()
        .call(
            "PATCH",
            &app.org_path(&format!("/webhooks/{id}?updateMask=colour")),
            Some(&app.token("OWNER")),
            Some(&json!({})),
        )
        .await;
    answer.assert_same_error_as(&unknown, 400);
}

async fn deleting_a_webhook_answers_an_empty_object_and_the_webhook_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/gone", &["member.added"])
        .await;
    let id = created.webhook.unwrap().id;
    let path = app.org_path(&format!("/webhooks/{id}"));
    let token = app.token("OWNER");
    let rest = app.rest();

    let deleted = rest.call("DELETE", &path, Some(&token), None).await;
    assert_eq!((deleted.status, &deleted.body), (200, &json!({})));

    let status = app.get_webhook(&id).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let read = rest.call("GET", &path, Some(&token), None).await;
    read.assert_same_error_as(&status, 404);
    let again = rest.call("DELETE", &path, Some(&token), None).await;
    again.assert_same_error_as(&app.delete_webhook(&id).await.unwrap_err(), 404);
}

async fn rotating_a_secret_answers_the_new_secret_and_when_the_old_one_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .subscribe("https://hooks.example.com/rotate", &["member.added"])
        .await;
    let id = created.webhook.unwrap().id;

    // A custom method without a body, as curl -X POST sends it.
    let rotated = app
        .rest()
        .call(
            "POST",
            &app.org_path(&format!("/webhooks/{id}:rotateSecret")),
            Some(&app.token("ADMIN")),
            None,
        )
        .await;

    assert_eq!(rotated.status, 200, "{rotated:?}");
    let secret = rotated.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret != created.secret);
    let expires = rotated.body["previousSecretExpiresAt"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
    let grace = expires.signed_duration_since(chrono::Utc::now());
    assert!((23..=24).contains(&grace.num_hours()), "{grace:?}");
    assert_eq!(
        rotated.body["webhook"],
        json_of(&app.get_webhook(&id).await.unwrap())
    );
}

/// Percent-encodes a query value.
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
