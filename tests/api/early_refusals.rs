//! A caller without the right to call is answered from the headers alone:
//! the REST face reads no body, and the gRPC server decodes no message, of
//! a request without a valid token, of a PublishEvent whose token lacks the
//! scope, or of a call whose caller holds no role that could allow it. Each
//! request below announces a large body and sends a few bytes of it: the
//! answer must come while the rest is still "on its way".

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tonic::Code;

use crate::support::raw::{frame_header, framed, grpc_by_hand, http1_before_body};
use crate::support::{Backend, TestApp, authorized, publisher_token, spawn_app};
use webhook_service::grpc::proto::CreateWebhookRequest;

/// Long enough for any answer on loopback, even on a loaded machine; an
/// answer that waits for the body never comes, since the body never does.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a request the service must read is shown to wait for its body.
const WAITS: Duration = Duration::from_secs(1);
/// Under PublishEvent's cap (1.5 MiB) but not under the others' (64 KiB).
const ANNOUNCED: usize = 1024 * 1024;
/// Under every cap.
const ANNOUNCED_SMALL: u32 = 60_000;

/// A token of a service that may not publish.
fn reader_token() -> String {
    let now = jsonwebtoken::get_current_timestamp();
    crate::support::hs256(&json!({
        "sub": "reporting", "scope": "events:read", "iat": now, "exp": now + 600,
    }))
}

/// POSTs to `path` with `token`, announcing 1 MiB of JSON and sending its
/// first bytes; the status answered within `limit`, before the rest, if any.
async fn rest_status_before_body(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    limit: Duration,
) -> Option<u16> {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization));
    }
    let address = app.http_address.unwrap();
    let answer =
        http1_before_body(address, path, &headers, ANNOUNCED, br#"{"data": {"#, limit).await?;
    assert_eq!(
        answer.head.lines().find(|l| l.starts_with("content-type")),
        Some("content-type: application/json"),
        "{answer:?}"
    );
    assert!(answer.body["message"].is_string(), "{answer:?}");
    Some(answer.status)
}

#[tokio::test]
async fn the_rest_face_answers_401_and_403_before_reading_the_body() {
    let app = spawn_app(Backend::Sqlite).await;
    let events = app.org_path("/events");
    let webhooks = app.org_path("/webhooks");
    let stranger = app.token_for(uuid::Uuid::new_v4(), "OWNER");
    for (path, token, status) in [
        (&events, None, 401),
        (&events, Some("not-a-jwt".to_owned()), 401),
        (&events, Some(reader_token()), 403),
        (&events, Some(app.token("OWNER")), 403),
        (&webhooks, None, 401),
        (&webhooks, Some(app.token("MEMBER")), 403),
        (&webhooks, Some(stranger), 403),
        (&webhooks, Some(publisher_token()), 403),
    ] {
        let answered = rest_status_before_body(&app, path, token.as_deref(), PATIENCE).await;
        assert_eq!(
            answered,
            Some(status),
            "POST {path} with {token:?}: no answer within {PATIENCE:?} while the body was on its way"
        );
    }
}

#[tokio::test]
async fn the_rest_face_reads_the_body_of_a_caller_who_may_call() {
    let app = spawn_app(Backend::Sqlite).await;
    let answered = rest_status_before_body(
        &app,
        &app.org_path("/events"),
        Some(&publisher_token()),
        WAITS,
    )
    .await;
    assert_eq!(answered, None, "answered without the body");
}

/// Starts `rpc` with `token`, announcing a message of `announced` bytes
/// and sending 100 bytes of it; the code answered within `limit`, if any.
async fn grpc_status_before_message(
    app: &TestApp,
    rpc: &str,
    token: Option<&str>,
    announced: u32,
    limit: Duration,
) -> Option<Code> {
    let mut sent = frame_header(announced).to_vec();
    sent.extend_from_slice(&[0x0a; 100]);
    let status = grpc_by_hand(app.address, rpc, token, Bytes::from(sent), false, limit).await;
    status.map(|s| s.code())
}

#[tokio::test]
async fn the_grpc_server_answers_before_decoding_a_message_the_caller_may_not_send() {
    let app = spawn_app(Backend::Sqlite).await;
    let publish = "/webhooks.v1.EventService/PublishEvent";
    let create = "/webhooks.v1.WebhookService/CreateWebhook";
    for (rpc, token, code) in [
        (publish, None, Code::Unauthenticated),
        (publish, Some(reader_token()), Code::PermissionDenied),
        (publish, Some(app.token("OWNER")), Code::PermissionDenied),
        (create, Some(app.token("MEMBER")), Code::PermissionDenied),
        (create, Some(publisher_token()), Code::PermissionDenied),
    ] {
        let answered =
            grpc_status_before_message(&app, rpc, token.as_deref(), ANNOUNCED_SMALL, PATIENCE)
                .await;
        assert_eq!(
            answered,
            Some(code),
            "{rpc} with {token:?}: no answer within {PATIENCE:?} while the message was on its way"
        );
    }
    // The organization is in the message: an owner of another one is
    // refused once it is read.
    let stranger = app.token_for(uuid::Uuid::new_v4(), "OWNER");
    let answered =
        grpc_status_before_message(&app, create, Some(&stranger), ANNOUNCED_SMALL, WAITS).await;
    assert_eq!(answered, None, "answered without the message");
}

#[tokio::test]
async fn a_member_is_refused_whatever_the_message_holds() {
    let app = spawn_app(Backend::Sqlite).await;
    // Field 2 (url) holding bytes that are not UTF-8: no valid message.
    let garbage = framed(&[0x12, 0x02, 0xff, 0xfe]);
    let create = "/webhooks.v1.WebhookService/CreateWebhook";
    let member = app.token("MEMBER");
    let status = grpc_by_hand(app.address, create, Some(&member), garbage, true, PATIENCE)
        .await
        .expect("an answer");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // The same message as the typed client sends it: the same answer.
    let request = CreateWebhookRequest {
        organization_id: app.organization.to_string(),
        url: "https://hooks.example.com/a".into(),
        events: vec!["member.added".into()],
        ..Default::default()
    };
    let typed = app
        .webhooks()
        .await
        .create_webhook(authorized(request, &member))
        .await
        .unwrap_err();
    assert_eq!(typed.message(), status.status().message());
}
