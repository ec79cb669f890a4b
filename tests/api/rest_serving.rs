//! Serving the REST face: its OpenAPI document describes every route it
//! serves, names WEBHOOK_PUBLIC_URL as its server and is valid OpenAPI 3.1;
//! WEBHOOK_HTTP_ADDR turns it off or fails the start naming itself; a REST
//! call is logged as its RPC.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::support::process::ServiceProcess;
use crate::support::rest::Rest;
use crate::support::sockets::closed_within;
use crate::support::{Backend, binary, spawn_app, spawn_app_with, start_failure};
use webhook_service::config::ListenAddr;

#[tokio::test]
async fn every_route_in_the_openapi_document_is_served_and_asks_for_a_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let rest = app.rest();
    let document = rest.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(document.status, 200, "{document:?}");
    assert_eq!(document.headers["content-type"], "application/json");
    let paths = document.body["paths"].as_object().expect("paths");

    let mut operations = 0;
    for (template, methods) in paths {
        let path = template
            .replace("{organizationId}", &app.organization.to_string())
            .replace("{webhookId}", &uuid::Uuid::new_v4().to_string())
            .replace("{deliveryId}", &uuid::Uuid::new_v4().to_string())
            .replace("{name}", "invoice.paid");
        assert!(!path.contains('{'), "an unknown parameter in {template}");
        for (method, operation) in methods.as_object().unwrap() {
            operations += 1;
            let answer = rest.call(&method.to_uppercase(), &path, None, None).await;
            if operation["security"] == serde_json::json!([]) {
                assert_eq!(answer.status, 200, "{method} {template}: {answer:?}");
            } else {
                // Served: authentication refused it.
                assert_eq!(answer.status, 401, "{method} {template}: {answer:?}");
                assert_eq!(answer.body["code"], 16, "{method} {template}: {answer:?}");
            }
        }
    }
    // One per RPC of both services, and the document itself.
    assert_eq!(operations, 18 + 1 + 1);
}

#[tokio::test]
async fn the_openapi_documents_server_is_the_public_url_or_else_relative() {
    let app = spawn_app(Backend::Sqlite).await;
    let document = app.rest().call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(document.body["servers"][0]["url"], "/");

    let url = "https://hooks.example.com/webhooks";
    let app = spawn_app_with(Backend::Sqlite, |s| s.public_url = Some(url.into())).await;
    let document = app.rest().call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(document.body["servers"][0]["url"], url);
}

/// Runs the standard validator on the document: in CI always (.ci/run
/// installs it and sets OPENAPI_VALIDATOR_PYTHON), elsewhere when a
/// `python3` with `openapi_spec_validator` is found.
#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_1() {
    let app = spawn_app(Backend::Sqlite).await;
    let document = app.rest().call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(document.body["openapi"], "3.1.0");
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&document.body).unwrap()).unwrap();

    let required = std::env::var_os("OPENAPI_VALIDATOR_PYTHON");
    let python = required.clone().unwrap_or_else(|| "python3".into());
    let available = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            required.is_none(),
            "{python:?} lacks openapi_spec_validator"
        );
        eprintln!("openapi_spec_validator not found: the document was not validated");
        return;
    }
    let output = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn with_the_rest_face_off_nothing_listens_for_it_and_grpc_still_serves() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.http_addr = ListenAddr::Off).await;
    assert_eq!(app.http_address, None);
    app.list_webhooks_as(&app.token("OWNER")).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/w.db", dir.path().display());
    let service = ServiceProcess::start(&url, &[("WEBHOOK_HTTP_ADDR", "off")]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = service.log();
    assert!(!log.contains("serving REST"), "{log}");
}

#[tokio::test]
async fn a_bad_or_taken_http_address_fails_the_start_naming_the_setting() {
    let output = binary()
        .env("JWT_SECRET", "s3cret")
        .env("WEBHOOK_LISTEN_ADDR", "127.0.0.1:0")
        .env("WEBHOOK_HTTP_ADDR", "everywhere")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WEBHOOK_HTTP_ADDR") && stderr.contains("everywhere"),
        "{stderr}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let failure = start_failure(|s| s.http_addr = ListenAddr::At(address)).await;
    assert!(
        failure.contains(&format!("cannot listen on WEBHOOK_HTTP_ADDR {address}")),
        "{failure}"
    );
}

#[tokio::test]
async fn a_rest_call_is_logged_as_its_rpc_inside_its_http_request() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/w.db", dir.path().display());
    let service = ServiceProcess::start(&url, &[("LOG_FORMAT", "json")]).await;
    let address: SocketAddr = service.http_address().await;
    let rest = Rest::at(format!("http://{address}"));

    let token = crate::support::publisher_token();
    let answer = rest.call("GET", "/v1/eventTypes", Some(&token), None).await;
    assert_eq!(answer.status, 200);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let log = service.log();
        let line = log
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "rpc finished");
        if let Some(line) = line {
            break line;
        }
        assert!(std::time::Instant::now() < deadline, "no RPC line:\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        line["span"]["method"], "/webhooks.v1.WebhookService/ListEventTypes",
        "{line}"
    );
    assert_eq!(line["span"]["code"], "Ok", "{line}");
    let outer = &line["spans"][0];
    assert_eq!(
        (&outer["name"], &outer["method"], &outer["path"]),
        (&"http".into(), &"GET".into(), &"/v1/eventTypes".into()),
        "{line}"
    );
}

#[tokio::test]
async fn rest_clients_that_send_their_headers_too_slowly_or_not_at_all_are_closed() {
    use tokio::io::AsyncWriteExt;
    const TIMEOUT: Duration = Duration::from_millis(500);
    let app = spawn_app_with(Backend::Sqlite, |s| s.handshake_timeout = TIMEOUT).await;
    let address = app.http_address.expect("REST served");

    let mut silent = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /v1/eventTypes HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    // A kept-alive connection that asked once, then goes quiet.
    let mut quiet = tokio::net::TcpStream::connect(address).await.unwrap();
    quiet
        .write_all(b"GET /v1/openapi.json HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();

    for (name, stream) in [
        ("silent", &mut silent),
        ("slow", &mut slow),
        ("quiet", &mut quiet),
    ] {
        let closed = closed_within(stream, TIMEOUT * 6).await;
        assert!(closed.is_some(), "the {name} connection is still open");
    }
    // Others are still served meanwhile and after.
    let answer = app.rest().call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}
