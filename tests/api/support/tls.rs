//! A service serving gRPC over TLS, the files it reads, and clients for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use webhook_service::config::Settings;

use super::pki::{Ca, LOOPBACK_NAMES, Leaf};

/// A server CA and a client CA, and the PEM files the service reads.
pub struct TlsFiles {
    pub server_ca: Ca,
    pub client_ca: Ca,
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub client_ca_file: PathBuf,
    dir: TempDir,
}

impl TlsFiles {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server_ca = Ca::new("webhook-service server CA");
        let client_ca = Ca::new("webhook-service client CA");
        let server = server_ca.server(&LOOPBACK_NAMES);
        let files = Self {
            certificate: dir.path().join("server.pem"),
            key: dir.path().join("server.key"),
            client_ca_file: dir.path().join("client-ca.pem"),
            server_ca,
            client_ca,
            dir,
        };
        files.write(&files.certificate, &server.certificate_pem());
        files.write(&files.key, &server.key_pem());
        files.write(&files.client_ca_file, &files.client_ca.pem());
        files
    }

    /// Writes `contents` to `name` in the files' folder and returns its path.
    pub fn write(&self, name: impl AsRef<std::path::Path>, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Serves over TLS; with `mutual`, a client certificate from the client
    /// CA is required.
    pub fn apply(&self, settings: &mut Settings, mutual: bool) {
        settings.tls_cert_file = Some(self.certificate.clone());
        settings.tls_key_file = Some(self.key.clone());
        settings.tls_client_ca_file = mutual.then(|| self.client_ca_file.clone());
    }

    /// A tonic client's TLS that trusts the server CA.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.server_ca.pem()))
            .domain_name("localhost")
    }

    /// Like [`TlsFiles::client`], presenting `certificate`.
    pub fn client_presenting(&self, certificate: &Leaf) -> ClientTlsConfig {
        self.client().identity(Identity::from_pem(
            certificate.certificate_pem(),
            certificate.key_pem(),
        ))
    }

    /// A rustls client that trusts the server CA and offers `h2`,
    /// presenting `certificate` when given.
    pub fn rustls_client(&self, certificate: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.server_ca.certificate_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match certificate {
            Some(leaf) => builder
                .with_client_auth_cert(vec![leaf.certificate_der()], leaf.key_der())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(config)
    }
}

/// A channel to `address` over TLS.
pub async fn tls_channel(
    address: SocketAddr,
    tls: ClientTlsConfig,
) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("https://{address}"))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

/// One Health/Check over a new TLS connection; an error as its whole
/// chain of causes.
pub async fn check_health_over_tls(
    address: SocketAddr,
    tls: ClientTlsConfig,
) -> Result<ServingStatus, String> {
    let channel = tls_channel(address, tls).await.map_err(|e| chain(&e))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map_err(|e| chain(&e))?;
    Ok(response.into_inner().status())
}

/// A TLS handshake with `config`, then one read: what the server sends
/// first (an HTTP/2 SETTINGS frame), or the error that ended the session
/// (an alert, when the server refused the handshake).
pub async fn handshake_and_read(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<Vec<u8>> {
    let tcp = TcpStream::connect(address).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let mut buffer = vec![0; 1024];
    let read = tls.read(&mut buffer).await?;
    buffer.truncate(read);
    Ok(buffer)
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
