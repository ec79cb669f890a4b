//! The binary itself, as a person at a terminal runs it.

use std::time::Duration;

use crate::support::process::{ServiceProcess, Stderr};
use crate::support::{Backend, JWT_SECRET, authorized, binary, spawn_app};

/// Starts the binary with `env` on a fresh database, expects it to fail at
/// once, and returns what it printed.
pub fn start_failure(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .env("WEBHOOK_LISTEN_ADDR", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/w.db", dir.path().display()),
        )
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const TOKEN_SETTINGS: [&str; 3] = ["JWT_SECRET", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_URL"];

#[test]
fn starting_without_a_token_key_fails_at_once_naming_all_three_settings() {
    let stderr = start_failure(&[]);
    for setting in TOKEN_SETTINGS {
        assert!(stderr.contains(setting), "{setting}: {stderr}");
    }
}

#[test]
fn starting_with_two_token_keys_fails_at_once_naming_all_three_settings() {
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/es256-public.pem"
    );
    for env in [
        [("JWT_SECRET", "s3cret"), ("JWT_PUBLIC_KEY_FILE", fixtures)],
        [
            ("JWT_SECRET", "s3cret"),
            ("JWT_JWKS_URL", "https://id.example.com/jwks"),
        ],
        [
            ("JWT_PUBLIC_KEY_FILE", fixtures),
            ("JWT_JWKS_URL", "http://127.0.0.1:9/jwks"),
        ],
    ] {
        let stderr = start_failure(&env);
        assert!(stderr.contains("set only one of"), "{env:?}: {stderr}");
        for setting in TOKEN_SETTINGS {
            assert!(stderr.contains(setting), "{setting}: {stderr}");
        }
    }
}

#[test]
fn a_plain_http_jwks_url_to_another_host_is_refused_at_start() {
    let stderr = start_failure(&[("JWT_JWKS_URL", "http://id.example.com/jwks")]);
    assert!(
        stderr.contains("JWT_JWKS_URL") && stderr.contains("must be https"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_claim_path_is_refused_at_start_naming_the_setting() {
    let stderr = start_failure(&[
        ("JWT_SECRET", "s3cret"),
        ("JWT_ROLE_CLAIM", "realm_access..roles"),
    ]);
    assert!(
        stderr.contains("JWT_ROLE_CLAIM") && stderr.contains("empty name"),
        "{stderr}"
    );
}

#[test]
fn a_heartbeat_interval_below_ten_milliseconds_is_refused_at_start() {
    let stderr = start_failure(&[
        ("JWT_SECRET", "s3cret"),
        ("WEBHOOK_HEARTBEAT_INTERVAL", "1ms"),
    ]);
    assert!(
        stderr.contains("WEBHOOK_HEARTBEAT_INTERVAL must be at least 10ms"),
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

/// What `webhook-service ARGS` prints on stdout; panics unless it succeeds.
fn help_of(args: &[&str]) -> String {
    let output = binary().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn token_help_shows_only_what_signing_a_token_needs() {
    let help = help_of(&["token", "--help"]);
    for wanted in [
        "--org",
        "--scope",
        "JWT_SECRET",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
    ] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
    for server_setting in [
        "DATABASE_URL",
        "WEBHOOK_LISTEN_ADDR",
        "WEBHOOK_RETRY_SCHEDULE",
    ] {
        assert!(!help.contains(server_setting), "{server_setting}: {help}");
    }
}

#[test]
fn serve_help_shows_the_server_settings() {
    let help = help_of(&["serve", "--help"]);
    for wanted in [
        "DATABASE_URL",
        "WEBHOOK_LISTEN_ADDR",
        "JWT_SECRET",
        "--metrics-addr",
    ] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
}

#[test]
fn listen_help_shows_its_own_options_and_no_server_setting() {
    let help = help_of(&["listen", "--help"]);
    for wanted in [
        "--secret",
        "--status",
        "--json",
        "--port-file",
        "--state-dir",
        "--http",
    ] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
    assert!(!help.contains("DATABASE_URL"), "{help}");
}

#[test]
fn the_top_level_help_names_the_subcommands_and_serving_as_the_default() {
    let help = help_of(&["--help"]);
    for wanted in [
        "serve",
        "token",
        "Receive deliveries",
        "webhook-service serve --help",
    ] {
        assert!(help.contains(wanted), "{wanted}: {help}");
    }
}

/// The service started as `webhook-service ARGS`, every setting a flag,
/// with the folder holding its database.
async fn started_with_flags(leading: &[&str]) -> (ServiceProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary();
    for var in ["WEBHOOK_LISTEN_ADDR", "DATABASE_URL", "WEBHOOK_HTTP_ADDR"] {
        command.env_remove(var);
    }
    command
        .args(leading)
        .args(["--listen-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .args(["--metrics-addr", "127.0.0.1:0", "--jwt-secret", JWT_SECRET])
        .arg("--database-url")
        .arg(format!("sqlite://{}/w.db?mode=rwc", dir.path().display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    (ServiceProcess::spawn(command, Stderr::Pipe).await, dir)
}

#[tokio::test]
async fn without_a_subcommand_the_server_settings_are_taken_as_flags_and_it_serves() {
    let (mut service, _dir) = started_with_flags(&[]).await;
    service.terminate();
    let status = service.exit_within(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}: {}", service.log());
}

#[tokio::test]
async fn serve_takes_the_server_settings_as_flags() {
    let (mut service, _dir) = started_with_flags(&["serve"]).await;
    service.terminate();
    let status = service.exit_within(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}: {}", service.log());
}

/// The `127.0.0.1:PORT` the log line holding `message` names.
fn logged_address(log: &str, message: &str) -> std::net::SocketAddr {
    let line = log
        .lines()
        .find(|line| line.contains(message))
        .unwrap_or_else(|| panic!("no `{message}`:\n{log}"));
    let start = line.find("127.0.0.1:").expect("a loopback address");
    let port: String = line[start + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    format!("127.0.0.1:{port}").parse().unwrap()
}

#[tokio::test]
async fn every_listener_takes_port_0_and_the_log_says_the_port_it_got() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // gRPC, REST and metrics all at port 0 (see `binary`).
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/w.db", dir.path().display());
    let service = ServiceProcess::start(&url, &[]).await;
    service.http_address().await;
    let log = service.log();
    for (message, path) in [
        ("serving metrics", "/metrics"),
        ("serving REST", "/v1/openapi.json"),
    ] {
        let address = logged_address(&log, message);
        assert_ne!(address.port(), 0, "{log}");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    assert_ne!(logged_address(&log, "serving gRPC").port(), 0);
}
