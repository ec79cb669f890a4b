//! How large a request may be: each RPC's message has a cap (PublishEvent's
//! holds the largest valid event; the other RPCs' are small), checked from
//! the frame's announced length before the message is read; a REST body
//! over 1 MiB, or one that makes a message over the cap, is 413, and simple
//! clients that send their whole body before reading read that answer.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tonic::Code;

use crate::on_every_backend;
use crate::support::raw::{frame_header, grpc_by_hand, http1_send_all_then_read};
use crate::support::{Backend, TestApp, authorized, publisher_token, spawn_app, to_struct};
use webhook_service::grpc::proto::PublishEventRequest;

on_every_backend!(the_largest_valid_event_is_published_on_both_faces);

const PUBLISH: &str = "/webhooks.v1.EventService/PublishEvent";

/// The JSON `data` that takes the most room in protobuf for its size: a
/// list of zeros (2 bytes each in JSON, 11 as `google.protobuf.Value`s),
/// as long as 256 KiB serialized allow.
fn densest_data() -> Value {
    let zeros = (256 * 1024 - r#"{"a":[]}"#.len()).div_ceil(2);
    let data = json!({"a": vec![0; zeros]});
    let size = serde_json::to_vec(&data).unwrap().len();
    assert_eq!(size, 256 * 1024 - 1, "one more zero takes two bytes");
    data
}

/// The most labels, each with the longest key and the longest value (in
/// characters of four UTF-8 bytes).
fn largest_labels() -> HashMap<String, String> {
    (0..16)
        .map(|i| (format!("{i:02}{}", "k".repeat(61)), "𝄞".repeat(256)))
        .collect()
}

async fn the_largest_valid_event_is_published_on_both_faces(backend: Backend) {
    let app = spawn_app(backend).await;
    // The longest key, in characters of four UTF-8 bytes.
    let key = "𝄞".repeat(255);
    let labels = largest_labels();
    let request = PublishEventRequest {
        organization_id: app.organization.to_string(),
        r#type: "member.role_updated".into(),
        data: Some(to_struct(densest_data())),
        idempotency_key: key.clone(),
        labels: labels.clone(),
        ordering_key: "𝄞".repeat(128),
    };
    let published = app
        .events()
        .await
        .publish_event(authorized(request, &publisher_token()))
        .await
        .expect("the largest valid event is accepted");
    assert!(!published.get_ref().duplicate);

    let body = json!({
        "type": "member.role_updated",
        "data": densest_data(),
        "idempotencyKey": key,
        "labels": labels,
    });
    let answer = app.publish_over_rest(&body).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["eventId"], published.get_ref().event_id);
}

#[tokio::test]
async fn a_message_over_its_cap_is_resource_exhausted_before_it_is_read() {
    let app = spawn_app(Backend::Sqlite).await;
    // Under tonic's own 4 MB, over PublishEvent's cap; 10 bytes of it sent.
    let mut sent = frame_header(3_000_000).to_vec();
    sent.extend_from_slice(&[0; 10]);
    let status = grpc_by_hand(
        app.address,
        PUBLISH,
        Some(&publisher_token()),
        Bytes::from(sent),
        false,
        Duration::from_secs(5),
    )
    .await
    .expect("answered while the message was on its way");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let message = status.status().message().to_owned();
    assert!(message.contains("3000000"), "{message}");
    assert!(message.contains("1572864"), "{message}");
}

#[tokio::test]
async fn a_webhook_service_message_has_a_much_lower_cap() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut request = app.create_request("https://hooks.example.com/a", &["member.added"]);
    // 100 KB: far more than any valid CreateWebhook.
    request.description = "x".repeat(100_000);
    let status = app.create_webhook(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("65536"), "{}", status.message());
}

/// POSTs `body` to PublishEvent over REST as a publisher.
async fn publish_over_rest(app: &TestApp, body: Vec<u8>) -> crate::support::rest::Answer {
    let authorization = format!("Bearer {}", publisher_token());
    app.rest()
        .send(
            "POST",
            &app.org_path("/events"),
            &[
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
}

/// A PublishEvent body of about `size` bytes.
fn padded_body(size: usize) -> Vec<u8> {
    let mut body = br#"{"type": "member.added", "data": {"blob": ""#.to_vec();
    body.resize(size, b'x');
    body.extend_from_slice(br#""}}"#);
    body
}

#[tokio::test]
async fn a_rest_body_over_one_mib_or_a_message_over_the_cap_is_413() {
    let app = spawn_app(Backend::Sqlite).await;
    let answer = publish_over_rest(&app, padded_body(1024 * 1024 + 1)).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.body["code"], 8, "{answer:?}");
    assert!(
        answer.body["message"].as_str().unwrap().contains("1 MiB"),
        "{answer:?}"
    );

    // Under 1 MiB of JSON, but about 5 MB as protobuf.
    let zeros = vec![0; 450_000];
    let body = serde_json::to_vec(&json!({"type": "member.added", "data": {"a": zeros}})).unwrap();
    assert!(body.len() < 1024 * 1024);
    let answer = publish_over_rest(&app, body).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.body["code"], 8, "{answer:?}");
}

#[tokio::test]
async fn a_client_that_sends_its_whole_body_first_reads_the_413() {
    let app = spawn_app(Backend::Sqlite).await;
    let address = app.http_address.unwrap();
    let path = app.org_path("/events");
    let authorization = format!("Bearer {}", publisher_token());
    for size in [2 * 1024 * 1024, 8 * 1024 * 1024] {
        let (path, authorization) = (path.clone(), authorization.clone());
        let answer = tokio::task::spawn_blocking(move || {
            let headers = [
                ("authorization", authorization.as_str()),
                ("content-type", "application/json"),
            ];
            http1_send_all_then_read(address, &path, &headers, &padded_body(size))
        })
        .await
        .unwrap();
        assert_eq!(answer.ok(), Some(413), "a body of {size} bytes");
    }
}

/// Python's urllib, requests (when installed) and Node's fetch post 2 MiB
/// and 8 MiB, and each reads the 413. Where an interpreter is missing, it
/// is said and skipped; CI has both (`.ci/run`).
#[tokio::test]
async fn common_clients_read_the_413_of_a_large_body() {
    let app = spawn_app(Backend::Sqlite).await;
    let url = format!("{}{}", app.http_url(), app.org_path("/events"));
    let token = publisher_token();
    let python = r#"
import json, os, sys, urllib.error, urllib.request
url, token = os.environ["URL"], os.environ["TOKEN"]
headers = {"content-type": "application/json", "authorization": "Bearer " + token}
def body(size):
    return b'{"type": "member.added", "data": {"blob": "' + b"x" * size + b'"}}'
try:
    import requests
except ImportError:
    requests = None
for size in (2 << 20, 8 << 20):
    request = urllib.request.Request(url, data=body(size), method="POST", headers=headers)
    try:
        urllib.request.urlopen(request, timeout=30)
        print("urllib", size, "ok")
    except urllib.error.HTTPError as e:
        print("urllib", size, e.code, json.load(e)["code"])
    except Exception as e:
        print("urllib", size, "failed:", repr(e))
    if requests is None:
        print("requests", size, 413, 8)
        continue
    try:
        answer = requests.post(url, data=body(size), headers=headers, timeout=30)
        print("requests", size, answer.status_code, answer.json()["code"])
    except Exception as e:
        print("requests", size, "failed:", repr(e))
"#;
    let node = r#"
const { URL: url, TOKEN: token } = process.env;
(async () => {
  for (const size of [2 << 20, 8 << 20]) {
    const body = '{"type": "member.added", "data": {"blob": "' + 'x'.repeat(size) + '"}}';
    try {
      const answer = await fetch(url, { method: 'POST', body,
        headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token } });
      console.log('fetch', size, answer.status, (await answer.json()).code);
    } catch (e) {
      console.log('fetch', size, 'failed:', e.message, e.cause && e.cause.message);
    }
  }
})();
"#;
    let mut answers = String::new();
    for (program, args) in [("python3", ["-c", python]), ("node", ["-e", node])] {
        let mut command = std::process::Command::new(program);
        command.args(args).env("URL", &url).env("TOKEN", &token);
        let run = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap();
        let Ok(output) = run else {
            eprintln!("{program} not found: its client was not tried");
            continue;
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{program}: {stdout}{stderr}");
        assert!(!stdout.is_empty(), "{program} printed nothing");
        answers.push_str(&stdout);
    }
    assert!(
        answers.lines().all(|line| line.ends_with(" 413 8")),
        "{answers}"
    );
}
