//! The binary itself, as a person at a terminal runs it.

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
