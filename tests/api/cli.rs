//! The binary itself, as a person at a terminal runs it.

use std::time::Duration;

use crate::support::process::{ServiceProcess, Stderr};
use crate::support::{Backend, JWT_SECRET, authorized, binary, spawn_app};

#[test]
fn starting_without_a_token_key_fails_at_once_naming_both_settings() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .env("WEBHOOK_LISTEN_ADDR", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/w.db", dir.path().display()),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_SECRET") && stderr.contains("JWT_PUBLIC_KEY_FILE"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_token_subcommand_mints_a_token_the_service_accepts() {
    let app = spawn_app(Backend::Sqlite).await;
    let output = binary()
        .env("JWT_SECRET", JWT_SECRET)
        .args([
            "token",
            "--org",
            &app.organization.to_string(),
            "--role",
            "ADMIN",
        ])
        .args(["--sub", "alice", "--ttl", "5m"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();

    let request = app.create_request("https://hooks.example.com/cli", &["member.added"]);
    let response = app
        .webhooks()
        .await
        .create_webhook(authorized(request, token.trim()))
        .await;
    assert!(response.is_ok(), "{response:?}");
}

/// Runs the service until it logs that it serves, stops it with SIGTERM,
/// and returns everything it logged.
async fn log_of_one_run(stderr: Stderr, envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/w.db", dir.path().display());
    let mut service = ServiceProcess::start_with(stderr, &url, envs).await;
    service.terminate();
    let status = service.exit_within(Duration::from_secs(10)).await;
    let log = service.log();
    assert!(status.success(), "{status:?}: {log}");
    assert!(
        log.contains("serving gRPC") && log.contains("stopped"),
        "{log}"
    );
    log
}

#[tokio::test]
async fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let log = log_of_one_run(Stderr::Pipe, &[]).await;
    assert!(!log.contains("\x1b["), "{log:?}");
}

#[tokio::test]
async fn logs_on_a_terminal_are_coloured_unless_no_color_is_set() {
    let coloured = log_of_one_run(Stderr::Terminal, &[]).await;
    assert!(coloured.contains("\x1b["), "{coloured:?}");

    let plain = log_of_one_run(Stderr::Terminal, &[("NO_COLOR", "1")]).await;
    assert!(!plain.contains("\x1b["), "{plain:?}");
}

#[tokio::test]
async fn a_sigterm_as_soon_as_it_says_it_serves_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/w.db", dir.path().display());
    let mut service = ServiceProcess::start(&url, &[]).await;
    service.terminate();
    let status = service.exit_within(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}: {}", service.log());
    let refused = tokio::net::TcpStream::connect(service.address).await;
    assert!(refused.is_err(), "nothing listens any more");
}
