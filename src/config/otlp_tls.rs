//! TLS to the OpenTelemetry collector: the standard
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_CERTIFICATE` and `_CLIENT_KEY`
//! files, each with its `_TRACES_` variant, which wins. They are read and
//! checked at start-up, so that a wrong file stops the service with its
//! name rather than failing every export later.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use secrecy::SecretString;

use crate::domain::client_certificate::{parse_chain, parse_key};
use crate::tls;

/// The collector's TLS files, as set.
#[derive(Debug, Clone, Args)]
pub struct OtlpTlsSettings {
    /// PEM certificates the collector's certificate must chain to, for an https:// endpoint; they replace the web's roots.
    #[arg(
        long = "otel-exporter-otlp-certificate",
        env = "OTEL_EXPORTER_OTLP_CERTIFICATE"
    )]
    pub certificate: Option<PathBuf>,
    /// Like OTEL_EXPORTER_OTLP_CERTIFICATE, for traces; it wins over it.
    #[arg(
        long = "otel-exporter-otlp-traces-certificate",
        env = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"
    )]
    pub traces_certificate: Option<PathBuf>,
    /// PEM certificate chain (the service's certificate first) presented to the collector for mutual TLS, with OTEL_EXPORTER_OTLP_CLIENT_KEY.
    #[arg(
        long = "otel-exporter-otlp-client-certificate",
        env = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
    )]
    pub client_certificate: Option<PathBuf>,
    /// Like OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, for traces; it wins over it.
    #[arg(
        long = "otel-exporter-otlp-traces-client-certificate",
        env = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"
    )]
    pub traces_client_certificate: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE.
    #[arg(
        long = "otel-exporter-otlp-client-key",
        env = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
    )]
    pub client_key: Option<PathBuf>,
    /// Like OTEL_EXPORTER_OTLP_CLIENT_KEY, for traces; it wins over it.
    #[arg(
        long = "otel-exporter-otlp-traces-client-key",
        env = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"
    )]
    pub traces_client_key: Option<PathBuf>,
}

/// What the exporter trusts and presents, read and checked.
pub struct CollectorTls {
    /// What the collector's certificate must chain to: the CA file's
    /// certificates, or else the web's roots.
    pub roots: Arc<rustls::RootCertStore>,
    /// The service's certificate for mutual TLS, as PEM (tonic takes PEM).
    pub identity: Option<ClientIdentityPem>,
    /// The same, for a rustls client (http/protobuf).
    pub client_config: rustls::ClientConfig,
}

/// A client certificate chain and its key, both PEM, checked to go together.
pub struct ClientIdentityPem {
    pub chain: String,
    pub key: SecretString,
}

impl OtlpTlsSettings {
    /// Reads the files: each error names the variable it came from.
    pub fn read(&self) -> anyhow::Result<CollectorTls> {
        let roots = match pick(
            &self.traces_certificate,
            &self.certificate,
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        ) {
            Some((path, setting)) => only(path, setting)?,
            None => tls::roots(None, "OTEL_EXPORTER_OTLP_CERTIFICATE")?,
        };
        let roots = Arc::new(roots);
        let certificate = pick(
            &self.traces_client_certificate,
            &self.client_certificate,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        );
        let key = pick(
            &self.traces_client_key,
            &self.client_key,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        );
        let builder = tls::client_builder(roots.clone())?;
        let (identity, client_config) = match (certificate, key) {
            (None, None) => (None, builder.with_no_client_auth()),
            (Some((_, setting)), None) => bail!(
                "{setting} is set but OTEL_EXPORTER_OTLP_CLIENT_KEY is not: set both or neither"
            ),
            (None, Some((_, setting))) => bail!(
                "{setting} is set but OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is not: \
                 set both or neither"
            ),
            (Some((chain_path, chain_setting)), Some((key_path, key_setting))) => {
                let chain_pem = read(chain_path, chain_setting)?;
                let chain = parse_chain(&chain_pem).map_err(|why| {
                    anyhow::anyhow!("{chain_setting}: {} {why}", chain_path.display())
                })?;
                let key_pem = read(key_path, key_setting)?;
                // The key's reasons never quote it.
                let key = parse_key(&key_pem).map_err(|why| {
                    anyhow::anyhow!("{key_setting}: {} {why}", key_path.display())
                })?;
                let config = builder.with_client_auth_cert(chain, key).with_context(|| {
                    format!("{chain_setting} and {key_setting} do not go together")
                })?;
                let identity = ClientIdentityPem {
                    chain: chain_pem,
                    key: SecretString::from(key_pem),
                };
                (Some(identity), config)
            }
        };
        Ok(CollectorTls {
            roots,
            identity,
            client_config,
        })
    }
}

/// The `_TRACES_` variant when set, else the general one, with its name.
fn pick<'a>(
    traces: &'a Option<PathBuf>,
    general: &'a Option<PathBuf>,
    traces_setting: &'static str,
    general_setting: &'static str,
) -> Option<(&'a Path, &'static str)> {
    match (traces, general) {
        (Some(path), _) => Some((path, traces_setting)),
        (None, Some(path)) => Some((path, general_setting)),
        (None, None) => None,
    }
}

/// A trust store holding only the certificates of the PEM file at `path`.
fn only(path: &Path, setting: &str) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in tls::read_certificates(path).context(setting.to_owned())? {
        roots
            .add(certificate)
            .with_context(|| format!("{setting} holds an unusable certificate"))?;
    }
    Ok(roots)
}

fn read(path: &Path, setting: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> OtlpTlsSettings {
        OtlpTlsSettings {
            certificate: None,
            traces_certificate: None,
            client_certificate: None,
            traces_client_certificate: None,
            client_key: None,
            traces_client_key: None,
        }
    }

    /// A self-signed certificate for localhost and its key, both PEM.
    fn self_signed() -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    fn error(settings: &OtlpTlsSettings) -> String {
        match settings.read() {
            Ok(_) => panic!("read"),
            Err(err) => format!("{err:#}"),
        }
    }

    #[test]
    fn without_a_ca_file_the_webs_roots_are_trusted_and_with_one_only_its_certificates() {
        let web = none().read().unwrap();
        assert!(web.roots.len() > 100, "{}", web.roots.len());
        assert!(web.identity.is_none());

        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, self_signed().0).unwrap();
        let settings = OtlpTlsSettings {
            certificate: Some(ca),
            ..none()
        };
        assert_eq!(settings.read().unwrap().roots.len(), 1);
    }

    #[test]
    fn a_ca_file_missing_or_without_certificates_is_an_error_naming_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        for path in [dir.path().join("missing.pem"), not_pem.clone()] {
            let settings = OtlpTlsSettings {
                certificate: Some(path.clone()),
                ..none()
            };
            let err = error(&settings);
            assert!(err.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
        // The traces variant wins over the general one, and names itself.
        let (good, _) = self_signed();
        let good_path = dir.path().join("good.pem");
        std::fs::write(&good_path, good).unwrap();
        let settings = OtlpTlsSettings {
            certificate: Some(good_path),
            traces_certificate: Some(not_pem),
            ..none()
        };
        let err = error(&settings);
        assert!(
            err.starts_with("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
            "{err}"
        );
    }

    #[test]
    fn a_client_certificate_needs_its_own_key() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let (chain, key) = self_signed();
        let (_, other_key) = self_signed();
        let chain = write("client.pem", &chain);
        let key = write("client.key", &key);
        let other_key = write("other.key", &other_key);

        let both = OtlpTlsSettings {
            client_certificate: Some(chain.clone()),
            traces_client_key: Some(key.clone()),
            ..none()
        };
        let read = both.read().unwrap();
        assert!(read.identity.is_some());

        let alone = OtlpTlsSettings {
            client_certificate: Some(chain.clone()),
            ..none()
        };
        let err = error(&alone);
        assert!(err.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"), "{err}");

        let mismatched = OtlpTlsSettings {
            client_certificate: Some(chain.clone()),
            client_key: Some(other_key),
            ..none()
        };
        let err = error(&mismatched);
        assert!(err.contains("do not go together"), "{err}");

        let swapped = OtlpTlsSettings {
            client_certificate: Some(key),
            client_key: Some(chain),
            ..none()
        };
        let err = error(&swapped);
        assert!(
            err.starts_with("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
            "{err}"
        );
        assert!(!err.contains("PRIVATE KEY-----\n"), "never quotes a key");
    }
}
