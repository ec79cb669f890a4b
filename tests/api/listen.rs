//! `webhook-service listen`: the real binary receiving the real service's
//! deliveries over HTTPS with a CA of its own, printing each as JSON.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::listener::{Listener, ca_file};
use crate::support::{Backend, TestApp, binary, spawn_app_with};

const WAIT: Duration = Duration::from_secs(15);

/// A secret of the right shape that no webhook has.
const WRONG_SECRET: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A service on SQLite that trusts the listener's CA in `state_dir` and
/// delivers to loopback, retrying after 100 ms twice.
async fn service_trusting(state_dir: &Path) -> TestApp {
    let ca_file = ca_file(state_dir);
    spawn_app_with(Backend::Sqlite, move |s| {
        s.ca_file = Some(ca_file);
        s.allow_private_targets = true;
        s.retry_schedule = "100ms,100ms".into();
        s.timeout = Duration::from_secs(2);
    })
    .await
}

fn text<'a>(request: &'a Value, field: &str) -> &'a str {
    request[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {request}"))
}

#[tokio::test]
async fn a_delivery_is_printed_verified_with_the_webhooks_secret_by_a_restarted_listener() {
    let state = tempfile::tempdir().unwrap();
    // The first run makes the CA; its port is where the webhook points.
    let first = Listener::start(state.path(), &[]).await;
    first.stderr_with(&["made now"]).await;
    let port = first.port;
    let app = service_trusting(state.path()).await;
    let created = app.subscribe(&first.url("/hooks"), &["member.added"]).await;
    assert!(first.stop().await.success());

    // Started again with the secret: the same CA, which the running
    // service still trusts; a wrong secret beside it changes nothing.
    let address = format!("127.0.0.1:{port}");
    let secrets = format!("{WRONG_SECRET},{}", created.secret);
    let mut listener =
        Listener::start(state.path(), &["--addr", &address, "--secret", &secrets]).await;
    let ca = format!("WEBHOOK_CA_FILE={}", ca_file(state.path()).display());
    listener
        .stderr_with(&["reused", "WEBHOOK_ALLOW_PRIVATE_TARGETS=true", &ca])
        .await;
    let event = app
        .publish("member.added", json!({ "user_id": "u_42" }), "")
        .await
        .unwrap();

    let request = listener.next_request(WAIT).await;
    assert_eq!(request["verified"], true, "{request}");
    assert!(request["reason"].is_null(), "{request}");
    assert_eq!(text(&request, "method"), "POST");
    assert_eq!(text(&request, "path"), "/hooks");
    assert_eq!(text(&request, "event_type"), "member.added");
    assert_eq!(text(&request, "webhook_id"), event.event_id);
    assert_eq!(request["attempt"], 1);
    assert_eq!(request["status"], 204);
    assert_eq!(request["body"]["data"], json!({ "user_id": "u_42" }));
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("succeeded".to_owned(), 1)]
    );
}

#[tokio::test]
async fn a_wrong_secret_shows_the_delivery_not_verified_and_why() {
    let state = tempfile::tempdir().unwrap();
    let mut listener = Listener::start(state.path(), &["--secret", WRONG_SECRET]).await;
    let app = service_trusting(state.path()).await;
    app.subscribe(&listener.url("/"), &["member.added"]).await;
    app.publish("member.added", json!({}), "").await.unwrap();

    let request = listener.next_request(WAIT).await;
    assert_eq!(request["verified"], false, "{request}");
    assert_eq!(request["reason"], "mismatch", "{request}");
    assert!(
        text(&request, "reason_text").contains("no v1 or v1a signature matches"),
        "{request}"
    );
}

#[tokio::test]
async fn status_503_makes_the_service_retry_and_record_each_attempt_failed() {
    let state = tempfile::tempdir().unwrap();
    let mut listener = Listener::start(state.path(), &["--status", "503"]).await;
    let app = service_trusting(state.path()).await;
    app.subscribe(&listener.url("/down"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();

    for attempt in 1..=3 {
        let request = listener.next_request(WAIT).await;
        assert_eq!(request["attempt"], attempt, "{request}");
        assert_eq!(request["status"], 503, "{request}");
        assert!(request["verified"].is_null(), "no --secret: {request}");
    }
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("failed".to_owned(), 3)]
    );
    let recorded: Vec<Option<i32>> = app
        .query("SELECT status_code FROM delivery_attempts ORDER BY attempt")
        .await
        .iter()
        .map(|row| row.try_get("", "status_code").unwrap())
        .collect();
    assert_eq!(recorded, [Some(503); 3]);
}

#[tokio::test]
async fn fail_first_answers_500_then_the_status_and_echo_answers_the_request() {
    let state = tempfile::tempdir().unwrap();
    let mut listener = Listener::start(state.path(), &["--fail-first", "1", "--echo"]).await;
    let app = service_trusting(state.path()).await;
    app.subscribe(&listener.url("/echo"), &["member.added"])
        .await;
    let event = app.publish("member.added", json!({}), "").await.unwrap();

    let statuses = [
        listener.next_request(WAIT).await["status"].clone(),
        listener.next_request(WAIT).await["status"].clone(),
    ];
    assert_eq!(statuses, [500, 200]);
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("succeeded".to_owned(), 2)]
    );
    let rows = app
        .query("SELECT response_excerpt FROM delivery_attempts WHERE attempt = 2")
        .await;
    let excerpt: String = rows[0].try_get("", "response_excerpt").unwrap();
    let echo: Value = serde_json::from_str(&excerpt).unwrap();
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["headers"]["webhook-id"], event.event_id.as_str());
    let body: Value = serde_json::from_str(text(&echo, "body")).unwrap();
    assert_eq!(body["id"], event.event_id.as_str());
}

/// What `webhook-service listen ARGS` says when it refuses to start.
fn refusal(args: &[&str]) -> String {
    let state = tempfile::tempdir().unwrap();
    let output = binary()
        .env_remove("WEBHOOK_LISTEN_SECRET")
        .args(["listen", "--state-dir"])
        .arg(state.path())
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_non_loopback_address_is_refused_without_allow_remote() {
    let stderr = refusal(&["--addr", "0.0.0.0:0"]);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

#[test]
fn a_secret_that_is_not_whsec_and_base64_is_refused_at_start() {
    let stderr = refusal(&["--secret", "s3cret"]);
    assert!(
        stderr.contains("--secret") && stderr.contains("whsec_"),
        "{stderr}"
    );
}
