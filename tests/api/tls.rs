//! gRPC over TLS and mutual TLS: who gets served, who is refused during the
//! handshake, that handshakes neither wait on each other nor last forever,
//! and what the binary says about settings that do not fit together.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;

use crate::support::pki::Ca;
use crate::support::tls::{TlsFiles, check_health_over_tls, handshake_and_read, tls_channel};
use crate::support::{Backend, TestApp, authorized, service_command, spawn_app_with};

/// A service over SQLite serving TLS from `files`, mutual when `mutual`.
async fn spawn_tls_app(files: &TlsFiles, mutual: bool) -> TestApp {
    spawn_app_with(Backend::Sqlite, |s| files.apply(s, mutual)).await
}

#[tokio::test]
async fn a_client_trusting_the_ca_checks_health_and_creates_a_webhook_over_tls() {
    let files = TlsFiles::new();
    let app = spawn_tls_app(&files, false).await;

    let status = check_health_over_tls(app.address, files.client()).await;
    assert_eq!(status, Ok(ServingStatus::Serving));

    let channel = tls_channel(app.address, files.client()).await.unwrap();
    let request = app.create_request("https://hooks.example.com/tls", &["member.added"]);
    let created = WebhookServiceClient::new(channel)
        .create_webhook(authorized(request, &app.token("OWNER")))
        .await
        .expect("CreateWebhook over TLS")
        .into_inner();
    let webhook = created.webhook.expect("the webhook");
    assert_eq!(webhook.url, "https://hooks.example.com/tls");
}

#[tokio::test]
async fn a_plaintext_client_is_refused_on_the_tls_port() {
    let files = TlsFiles::new();
    let app = spawn_tls_app(&files, false).await;

    let plaintext = async {
        let channel = Channel::from_shared(format!("http://{}", app.address))
            .unwrap()
            .connect()
            .await?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(response)
    };
    let answered = timeout(Duration::from_secs(10), plaintext)
        .await
        .expect("refused at once, not left hanging");
    assert!(answered.is_err(), "plaintext was served: {answered:?}");

    // What the server sent back, if anything, is not HTTP/2: a plaintext
    // server's first frame would be its SETTINGS.
    let mut tcp = TcpStream::connect(app.address).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let reply = read_until_closed(&mut tcp).await;
    assert!(
        reply.is_empty() || reply[0] == 0x15,
        "expected nothing or a TLS alert record, got {reply:?}"
    );

    let status = check_health_over_tls(app.address, files.client()).await;
    assert_eq!(status, Ok(ServingStatus::Serving));
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_servers_ca_is_refused() {
    let files = TlsFiles::new();
    let app = spawn_tls_app(&files, false).await;
    let stranger = Ca::new("some other CA");
    let untrusting = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(stranger.pem()))
        .domain_name("localhost");

    let error = check_health_over_tls(app.address, untrusting)
        .await
        .expect_err("a server it cannot verify");
    assert!(error.contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn with_mutual_tls_a_client_certificate_from_the_client_ca_is_served() {
    let files = TlsFiles::new();
    let app = spawn_tls_app(&files, true).await;
    let client = files.client_ca.client("billing-service");

    let status = check_health_over_tls(app.address, files.client_presenting(&client)).await;
    assert_eq!(status, Ok(ServingStatus::Serving));

    let channel = tls_channel(app.address, files.client_presenting(&client))
        .await
        .unwrap();
    let request = app.create_request("https://hooks.example.com/mtls", &["member.added"]);
    let created = WebhookServiceClient::new(channel)
        .create_webhook(authorized(request, &app.token("OWNER")))
        .await;
    assert!(created.is_ok(), "{created:?}");
}

#[tokio::test]
async fn with_mutual_tls_a_client_without_a_certificate_is_refused_during_the_handshake() {
    let files = TlsFiles::new();
    let app = spawn_tls_app(&files, true).await;

    let refused = handshake_and_read(app.address, files.rustls_client(None)).await;
    let error = refused.expect_err("no HTTP/2 for a client without a certificate");
    assert!(
        error.to_string().contains("CertificateRequired"),
        "not refused by a TLS alert: {error}"
    );

    let status = check_health_over_tls(app.address, files.client()).await;
    assert!(status.is_err(), "{status:?}");
}

#[tokio::test]
async fn with_mutual_tls_a_client_certificate_from_another_ca_is_refused_during_the_handshake() {
    let files = TlsFiles::new();
    let app = spawn_tls_app(&files, true).await;
    let impostor = Ca::new("some other CA").client("billing-service");

    let refused = handshake_and_read(app.address, files.rustls_client(Some(&impostor))).await;
    let error = refused.expect_err("no HTTP/2 for a certificate from another CA");
    assert!(
        error.to_string().contains("UnknownCA"),
        "not refused by a TLS alert: {error}"
    );

    let status = check_health_over_tls(app.address, files.client_presenting(&impostor)).await;
    assert!(status.is_err(), "{status:?}");

    // The same client with the right certificate gets HTTP/2's SETTINGS.
    let trusted = files.client_ca.client("billing-service");
    let settings = handshake_and_read(app.address, files.rustls_client(Some(&trusted))).await;
    assert_eq!(settings.unwrap().get(3), Some(&0x4), "a SETTINGS frame");
}

#[tokio::test]
async fn silent_connections_to_the_tls_port_are_closed_within_the_handshake_timeout() {
    let files = TlsFiles::new();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        files.apply(s, false);
        s.handshake_timeout = Duration::from_secs(1);
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(TcpStream::connect(app.address).await.unwrap());
    }
    // And one that starts a TLS record and stops.
    let mut stalled = TcpStream::connect(app.address).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    silent.push(stalled);

    let deadline = Instant::now() + Duration::from_secs(15);
    for (i, connection) in silent.iter_mut().enumerate() {
        let closed = timeout_at(deadline, read_until_closed(connection)).await;
        assert!(closed.is_ok(), "connection {i} still open after 15 s");
    }
    let status = check_health_over_tls(app.address, files.client()).await;
    assert_eq!(status, Ok(ServingStatus::Serving));
}

#[tokio::test]
async fn a_silent_connection_does_not_hold_up_anyone_elses_tls_handshake() {
    let files = TlsFiles::new();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        files.apply(s, false);
        s.handshake_timeout = Duration::from_secs(60);
    })
    .await;
    let _silent = TcpStream::connect(app.address).await.unwrap();
    let mut stalled = TcpStream::connect(app.address).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    // Long enough for both to be accepted and in their handshakes.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let status = timeout(
        Duration::from_secs(5),
        check_health_over_tls(app.address, files.client()),
    )
    .await
    .expect("served while two handshakes hang");
    assert_eq!(status, Ok(ServingStatus::Serving));
}

#[tokio::test]
async fn a_tls_client_that_never_sends_the_http2_preface_is_closed_within_the_handshake_timeout() {
    let files = TlsFiles::new();
    let handshake_timeout = Duration::from_secs(1);
    let app = spawn_app_with(Backend::Sqlite, |s| {
        files.apply(s, false);
        s.handshake_timeout = handshake_timeout;
    })
    .await;

    let tcp = TcpStream::connect(app.address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(files.rustls_client(None))
        .connect(name, tcp)
        .await
        .expect("the TLS handshake itself succeeds");
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    assert_eq!(negotiated.as_deref(), Some(&b"h2"[..]));

    let opened = Instant::now();
    let closed = timeout(5 * handshake_timeout, async {
        let mut buffer = [0; 1024];
        while let Ok(1..) = tls.read(&mut buffer).await {}
    })
    .await;
    assert!(closed.is_ok(), "still open after {:?}", opened.elapsed());
}

#[test]
fn a_certificate_without_a_key_stops_the_service_at_start_naming_both_settings() {
    let files = TlsFiles::new();
    let stderr = start_failure(&[("WEBHOOK_TLS_CERT_FILE", &files.certificate)]);
    assert!(
        stderr.contains("WEBHOOK_TLS_CERT_FILE") && stderr.contains("WEBHOOK_TLS_KEY_FILE"),
        "{stderr}"
    );
}

#[test]
fn a_client_ca_without_a_certificate_stops_the_service_at_start_naming_the_settings() {
    let files = TlsFiles::new();
    let stderr = start_failure(&[("WEBHOOK_TLS_CLIENT_CA_FILE", &files.client_ca_file)]);
    assert!(
        stderr.contains("WEBHOOK_TLS_CLIENT_CA_FILE") && stderr.contains("WEBHOOK_TLS_CERT_FILE"),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_tls_file_stops_the_service_at_start_naming_its_setting() {
    let files = TlsFiles::new();
    let missing = files.key.with_file_name("missing.key");
    let stderr = start_failure(&[
        ("WEBHOOK_TLS_CERT_FILE", &files.certificate),
        ("WEBHOOK_TLS_KEY_FILE", &missing),
    ]);
    assert!(stderr.contains("WEBHOOK_TLS_KEY_FILE"), "{stderr}");
    assert!(stderr.contains("missing.key"), "{stderr}");

    let not_a_ca = files.write("not-a-ca.pem", "hello\n");
    let stderr = start_failure(&[
        ("WEBHOOK_TLS_CERT_FILE", &files.certificate),
        ("WEBHOOK_TLS_KEY_FILE", &files.key),
        ("WEBHOOK_TLS_CLIENT_CA_FILE", &not_a_ca),
    ]);
    assert!(stderr.contains("WEBHOOK_TLS_CLIENT_CA_FILE"), "{stderr}");
}

#[test]
fn a_key_that_is_not_the_certificates_stops_the_service_at_start() {
    let files = TlsFiles::new();
    let other = files.server_ca.server(&["localhost"]);
    let other_key = files.write("other.key", &other.key_pem());
    let stderr = start_failure(&[
        ("WEBHOOK_TLS_CERT_FILE", &files.certificate),
        ("WEBHOOK_TLS_KEY_FILE", &other_key),
    ]);
    assert!(
        stderr.contains("WEBHOOK_TLS_CERT_FILE and WEBHOOK_TLS_KEY_FILE"),
        "{stderr}"
    );
}

/// Starts the binary with `settings` on top of a JWT secret and a database,
/// expects it to exit with a failure within 30 s, and returns what
/// it wrote to stderr.
fn start_failure(settings: &[(&str, &Path)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = service_command(&dir);
    for (name, path) in settings {
        command.env(name, path);
    }
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the service started with {settings:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "exited successfully: {stderr}");
    stderr
}

/// Reads until the server closes; returns what it sent.
async fn read_until_closed(connection: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0; 1024];
    while let Ok(read @ 1..) = connection.read(&mut buffer).await {
        received.extend_from_slice(&buffer[..read]);
    }
    received
}
