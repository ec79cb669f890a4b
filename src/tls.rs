//! TLS with rustls and the ring provider: the outgoing HTTPS clients'
//! configuration (webhook deliveries, the identity provider's key set: the
//! web's roots plus an operator's PEM file), and reading PEM certificates,
//! which the gRPC listener's configuration does too.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The cryptography every TLS configuration of the service uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

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

/// A client configuration trusting the web's roots and those in
/// `extra_roots`; `setting` names the file's setting in errors.
pub fn client_config(
    extra_roots: Option<&Path>,
    setting: &str,
) -> anyhow::Result<rustls::ClientConfig> {
    Ok(client_builder(Arc::new(roots(extra_roots, setting)?))?.with_no_client_auth())
}

/// The web's roots and those in `extra_roots`; `setting` names the file's
/// setting in errors.
pub fn roots(extra_roots: Option<&Path>, setting: &str) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_roots {
        for cert in read_certificates(path).context(setting.to_owned())? {
            roots
                .add(cert)
                .with_context(|| format!("{setting} holds an unusable certificate"))?;
        }
    }
    Ok(roots)
}

/// A client configuration trusting `roots`, waiting for its client
/// authentication (none, or a certificate).
pub fn client_builder(
    roots: Arc<rustls::RootCertStore>,
) -> anyhow::Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}
