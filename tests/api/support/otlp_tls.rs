//! The test collector over TLS: its certificate, made by a CA of its own
//! at test time (support/pki.rs), the files the service is given
//! (`OTEL_EXPORTER_OTLP_CERTIFICATE` and a client certificate), and an
//! axum listener that speaks TLS for the OTLP/HTTP collector.

use std::path::PathBuf;
use std::sync::Arc;

use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::pki::{Ca, LOOPBACK_NAMES};

/// What a collector presents, and which client certificates it demands.
pub struct ServerTls {
    certificate_pem: String,
    key_pem: String,
    /// For mutual TLS: the CA a client's certificate must chain to, PEM.
    client_ca_pem: Option<String>,
}

impl ServerTls {
    /// tonic's server TLS, for the gRPC collector.
    pub fn tonic(&self) -> tonic::transport::ServerTlsConfig {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.certificate_pem, &self.key_pem));
        match &self.client_ca_pem {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }

    /// A rustls acceptor, for the OTLP/HTTP collector.
    pub fn acceptor(&self) -> TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match &self.client_ca_pem {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
                    .unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let chain = vec![CertificateDer::from_pem_slice(self.certificate_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap();
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A collector's certificates and the PEM files the service reads.
pub struct CollectorPki {
    /// The CA that signed the collector's certificate:
    /// OTEL_EXPORTER_OTLP_CERTIFICATE.
    pub ca_file: PathBuf,
    /// A certificate (and its key) signed by the CA the collector demands
    /// client certificates from, when it does.
    pub client_certificate: PathBuf,
    pub client_key: PathBuf,
    ca: Ca,
    client_ca: Ca,
    _dir: TempDir,
}

impl CollectorPki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("test collector CA");
        let client_ca = Ca::new("test collector's clients CA");
        let client = client_ca.client("webhook-service");
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Self {
            ca_file: write("collector-ca.pem", ca.pem()),
            client_certificate: write("client.pem", client.certificate_pem()),
            client_key: write("client.key", client.key_pem()),
            ca,
            client_ca,
            _dir: dir,
        }
    }

    /// A certificate for the loopback names that the CA signed; with
    /// `mutual`, the collector demands a client certificate.
    pub fn server(&self, mutual: bool) -> ServerTls {
        let leaf = self.ca.server(&LOOPBACK_NAMES);
        ServerTls {
            certificate_pem: leaf.certificate_pem(),
            key_pem: leaf.key_pem(),
            client_ca_pem: mutual.then(|| self.client_ca.pem()),
        }
    }
}

/// A TCP listener whose connections are TLS sessions, for `axum::serve`;
/// a failed handshake is skipped (the client gave up or did not trust us).
pub struct TlsListener {
    pub listener: TcpListener,
    pub acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.listener.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
