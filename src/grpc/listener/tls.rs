//! The listener's TLS configuration: the server's certificate chain and key
//! from PEM files, HTTP/2 as the only application protocol, and, for mutual
//! TLS, the CAs a client's certificate must chain to. Built on rustls with
//! the ring provider, like the delivery client.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

/// Every certificate in the PEM file at `path`; an error when there is none.
pub fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", path.display()))?;
    if certificates.is_empty() {
        bail!("no PEM certificate in {}", path.display());
    }
    Ok(certificates)
}

/// The first private key in the PEM file at `path`: PKCS#8 (`PRIVATE
/// KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
pub fn read_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("cannot read a private key from {}", path.display()))
}

/// The verifier that refuses, during the handshake, a client without a
/// certificate chaining to one of `cas`.
pub fn client_verifier(
    cas: Vec<CertificateDer<'static>>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(ca).context("not a usable CA certificate")?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .context("cannot verify client certificates with these CAs")
}

/// The server's configuration: TLS 1.2 and 1.3, ALPN `h2` (gRPC clients
/// such as grpc-go insist on it), client certificates required when
/// `client_verifier` is given.
pub fn server_config(
    certificate_chain: Vec<CertificateDer<'static>>,
    private_key: PrivateKeyDer<'static>,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("the ring provider supports no TLS version")?;
    let builder = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certificate_chain, private_key)
        .context("the certificate and private key are not a usable pair")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
