//! What a caller sends never makes an INTERNAL error, nor comes back with a
//! library's text: `data` nested too deep is INVALID_ARGUMENT naming the
//! limit, on both faces, whether the domain or the protobuf decoder finds
//! it; a message that is no protobuf is INVALID_ARGUMENT too; and a body
//! the REST face cannot read is refused without hyper's words.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::on_every_backend;
use crate::support::raw::{framed, grpc_by_hand};
use crate::support::{
    Backend, TestApp, assert_field_violation, authorized, publisher_token, spawn_app, to_struct,
};
use webhook_service::grpc::proto::PublishEventRequest;

on_every_backend!(data_nested_deeper_than_32_levels_is_invalid_argument_on_both_faces);

/// A JSON object holding objects `levels` deep, itself included.
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({"leaf": true}), |inner, _| json!({ "a": inner }))
}

fn publish_request(app: &TestApp, data: Value) -> PublishEventRequest {
    PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "member.added".into(),
        data: Some(to_struct(data)),
        ..Default::default()
    }
}

async fn data_nested_deeper_than_32_levels_is_invalid_argument_on_both_faces(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("member.added", nested(32), "")
        .await
        .expect("32 levels are accepted");
    let deepest_list = (1..31).fold(json!([]), |inner, _| json!([inner]));
    app.publish("member.added", json!({ "a": deepest_list }), "")
        .await
        .expect("a list 31 levels deep inside data is 32 levels");

    let deep_lists = (1..40).fold(json!([]), |inner, _| json!([inner]));
    // 33 levels reach the domain; 34 and more objects, or lists 40 deep,
    // are past what the protobuf decoder reads.
    for data in [
        nested(33),
        nested(34),
        nested(60),
        json!({ "a": deep_lists }),
    ] {
        let status = app
            .events()
            .await
            .publish_event(authorized(
                publish_request(&app, data.clone()),
                &publisher_token(),
            ))
            .await
            .unwrap_err();
        let description = assert_field_violation(&status, "data");
        assert!(description.contains("32"), "{description}");
        assert!(!status.message().contains("decode"), "{}", status.message());

        let body = json!({"type": "member.added", "data": data});
        let answer = app.publish_over_rest(&body).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.violations()[0].0, "data", "{answer:?}");
        assert!(answer.violations()[0].1.contains("32"), "{answer:?}");
    }
}

#[tokio::test]
async fn a_member_of_another_organization_is_refused_before_deep_data_is_decoded() {
    let app = spawn_app(Backend::Sqlite).await;
    let member = app.token_for(uuid::Uuid::new_v4(), "MEMBER");
    let status = app
        .events()
        .await
        .publish_event(authorized(publish_request(&app, nested(40)), &member))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let body = json!({"type": "member.added", "data": nested(40)});
    let answer = app
        .rest()
        .call("POST", &app.org_path("/events"), Some(&member), Some(&body))
        .await;
    assert_eq!(answer.status, 403, "{answer:?}");
}

#[tokio::test]
async fn a_message_that_is_no_protobuf_is_invalid_argument_without_the_decoder_s_text() {
    let app = spawn_app(Backend::Sqlite).await;
    let create = "/webhooks.v1.WebhookService/CreateWebhook";
    let owner = app.token("OWNER");
    let call = |message: &'static [u8]| {
        let owner = owner.clone();
        let address = app.address;
        async move {
            grpc_by_hand(
                address,
                create,
                Some(&owner),
                framed(message),
                true,
                Duration::from_secs(5),
            )
            .await
            .expect("an answer")
            .status()
        }
    };
    // Field 2 (url) holding bytes that are not UTF-8.
    let status = call(&[0x12, 0x02, 0xff, 0xfe]).await;
    let description = assert_field_violation(&status, "url");
    assert_eq!(description, "is not valid UTF-8");
    // A length that runs past the end, and a key that is no key.
    for garbage in [&[0x12, 0x7f, b'a'][..], &[0xff][..]] {
        let status = call(garbage).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            !status.message().contains("Protobuf") && !status.message().contains("buffer"),
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn a_body_the_rest_face_cannot_read_is_refused_without_hyper_s_words() {
    let app = spawn_app(Backend::Sqlite).await;
    let address = app.http_address.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        app.org_path("/events"),
        publisher_token(),
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("the request body could not be read"),
        "{answer}"
    );
    assert!(!answer.contains("error reading"), "{answer}");
}
