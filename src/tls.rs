//! TLS for the service's outgoing HTTPS clients (webhook deliveries, the
//! identity provider's key set): rustls with the web's roots, plus the extra
//! roots of an operator's PEM file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A client configuration trusting the web's roots and those in
/// `extra_roots`; `setting` names the file's setting in errors.
pub fn client_config(
    extra_roots: Option<&Path>,
    setting: &str,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_roots {
        let certs = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read {setting} {}", path.display()))?;
        for cert in certs {
            let cert = cert.with_context(|| format!("{setting} {}", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("{setting} holds an unusable certificate"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
