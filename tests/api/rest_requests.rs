//! Requests the REST face refuses itself, before they become RPCs: 400 with
//! a `google.rpc.Status` of code 3 (INVALID_ARGUMENT) once the token is
//! checked; a body over 1 MiB 413; unknown routes 404 and wrong methods 405
//! in the same shape.

use serde_json::json;

use crate::support::rest::Answer;
use crate::support::{Backend, TestApp, spawn_app};

/// Asserts a 400 that the REST face answered itself, saying `says`.
fn assert_refused(answer: &Answer, says: &str) {
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.body["code"], 3, "{answer:?}");
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.contains(says), "{message:?} does not say {says:?}");
    assert!(answer.body.get("details").is_none(), "{answer:?}");
}

/// POSTs `body` as a new webhook, as an OWNER, with `content_type`.
async fn post_webhook(app: &TestApp, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
    let authorization = format!("Bearer {}", app.token("OWNER"));
    app.rest()
        .send(
            "POST",
            &app.org_path("/webhooks"),
            &[
                ("authorization", &authorization),
                ("content-type", content_type),
            ],
            body.into(),
        )
        .await
}

#[tokio::test]
async fn malformed_json_is_400_before_any_rpc() {
    let app = spawn_app(Backend::Sqlite).await;
    let answer = post_webhook(&app, "application/json", r#"{"url": "https://a.example","#).await;
    assert_refused(&answer, "not valid JSON");
    let array = post_webhook(&app, "application/json", "[1, 2]").await;
    assert_refused(&array, "must be a JSON object");

    // No token: the body is not even read.
    let anonymous = app
        .rest()
        .send(
            "POST",
            &app.org_path("/webhooks"),
            &[("content-type", "application/json")],
            b"{".to_vec(),
        )
        .await;
    assert_eq!(
        (anonymous.status, &anonymous.body["code"]),
        (401, &json!(16))
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_whatever_it_holds() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = r#"{"url": "https://hooks.example.com/a", "events": ["member.added"]}"#;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin1",
    ] {
        let answer = post_webhook(&app, content_type, body).await;
        assert_refused(&answer, "must be `application/json`");
    }
    let utf8 = post_webhook(&app, "application/json; charset=utf-8", body).await;
    assert_eq!(utf8.status, 201, "{utf8:?}");
}

#[tokio::test]
async fn an_unknown_field_is_400_naming_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let body =
        json!({"url": "https://hooks.example.com/a", "events": ["member.added"], "colour": "red"});
    let answer = post_webhook(&app, "application/json", serde_json::to_vec(&body).unwrap()).await;
    assert_refused(&answer, "unknown field `colour`");

    let answer = app
        .rest()
        .call(
            "GET",
            &app.org_path("/webhooks?pageSize=2&colour=red"),
            Some(&app.token("OWNER")),
            None,
        )
        .await;
    assert_refused(&answer, "unknown query parameter `colour`");
}

#[tokio::test]
async fn a_body_over_one_mib_is_413() {
    let app = spawn_app(Backend::Sqlite).await;
    let padding = "x".repeat(1024 * 1024);
    let body = json!({"url": "https://hooks.example.com/a", "events": ["member.added"], "description": padding});
    let answer = post_webhook(&app, "application/json", serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(
        (answer.status, &answer.body["code"]),
        (413, &json!(8)),
        "{answer:?}"
    );
    assert_eq!(
        answer.body["message"],
        "the request body is larger than 1 MiB"
    );
}

#[tokio::test]
async fn a_field_of_the_path_in_the_body_or_a_body_where_none_belongs_is_400() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = json!({
        "organizationId": app.organization.to_string(),
        "url": "https://hooks.example.com/a",
        "events": ["member.added"],
    });
    let answer = post_webhook(&app, "application/json", serde_json::to_vec(&body).unwrap()).await;
    assert_refused(&answer, "`organizationId` comes from the URL path");

    let answer = app
        .rest()
        .call(
            "GET",
            &app.org_path("/webhooks"),
            Some(&app.token("OWNER")),
            Some(&json!({"pageSize": 1})),
        )
        .await;
    assert_refused(&answer, "takes no request body");

    let answer = app
        .rest()
        .call(
            "GET",
            &app.org_path("/deliveries?status=DELIVERY_STATUS_LOST"),
            Some(&app.token("OWNER")),
            None,
        )
        .await;
    assert_refused(&answer, "DELIVERY_STATUS_LOST");
}

#[tokio::test]
async fn an_unknown_route_is_404_and_a_wrong_method_405_in_the_error_shape() {
    let app = spawn_app(Backend::Sqlite).await;
    let rest = app.rest();
    let webhook = app.org_path(&format!("/webhooks/{}", uuid::Uuid::new_v4()));

    for path in [
        "/v1/nothing",
        "/webhooks",
        &format!("{webhook}:explode"),
        &format!("{webhook}/more"),
    ] {
        let answer = rest.call("GET", path, None, None).await;
        assert_eq!(
            (answer.status, &answer.body["code"]),
            (404, &json!(5)),
            "{path}: {answer:?}"
        );
        assert!(
            answer.body["message"]
                .as_str()
                .unwrap()
                .contains("no route")
        );
    }

    let put = rest.call("PUT", &webhook, None, None).await;
    assert_eq!(
        (put.status, &put.body["code"]),
        (405, &json!(12)),
        "{put:?}"
    );
    assert_eq!(put.headers["allow"], "GET, PATCH, DELETE");

    let get_verb = rest
        .call("GET", &format!("{webhook}:rotateSecret"), None, None)
        .await;
    assert_eq!(get_verb.status, 405, "{get_verb:?}");
    assert_eq!(get_verb.headers["allow"], "POST");

    let post_openapi = rest.call("POST", "/v1/openapi.json", None, None).await;
    assert_eq!(
        (post_openapi.status, &post_openapi.body["code"]),
        (405, &json!(12))
    );
}
