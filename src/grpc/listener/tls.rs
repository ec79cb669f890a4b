//! The listener's TLS configuration: the server's certificate chain and key
//! from PEM files, HTTP/2 as the only application protocol, and, for mutual
//! TLS, the CAs a client's certificate must chain to. Built on rustls with
//! the ring provider, like the delivery client.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

use crate::tls::provider;
pub use crate::tls::read_certificates;

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

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};

    use super::*;

    /// An RSA key made for the tests (`openssl`), as PKCS#8.
    const RSA_KEY: &str = include_str!("../../../tests/fixtures/rs256-private.pem");

    #[test]
    fn a_private_key_in_pkcs8_pkcs1_or_sec1_pem_makes_a_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let ecdsa = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let rsa = KeyPair::from_pem(RSA_KEY).unwrap();
        let cases = [
            (&ecdsa, "PRIVATE KEY", ecdsa.serialize_der()),
            (
                &ecdsa,
                "EC PRIVATE KEY",
                key_inside_pkcs8(&ecdsa.serialize_der()),
            ),
            (&rsa, "PRIVATE KEY", rsa.serialize_der()),
            (
                &rsa,
                "RSA PRIVATE KEY",
                key_inside_pkcs8(&rsa.serialize_der()),
            ),
        ];
        for (key, label, der) in cases {
            let certificate = CertificateParams::new(vec!["localhost".to_owned()])
                .unwrap()
                .self_signed(key)
                .unwrap();
            let cert_file = dir.path().join("server.pem");
            std::fs::write(&cert_file, certificate.pem()).unwrap();
            let key_file = dir.path().join("server.key");
            std::fs::write(&key_file, pem(label, &der)).unwrap();

            let chain = read_certificates(&cert_file).unwrap();
            let private_key =
                read_private_key(&key_file).unwrap_or_else(|e| panic!("{label}: {e:#}"));
            let format = match &private_key {
                PrivateKeyDer::Pkcs8(_) => "PRIVATE KEY",
                PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
                PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
                _ => "another format",
            };
            assert_eq!(format, label);
            let config = server_config(chain, private_key, None)
                .unwrap_or_else(|e| panic!("{label}: {e:#}"));
            assert_eq!(config.alpn_protocols, [b"h2".to_vec()]);
        }
    }

    #[test]
    fn a_file_without_a_certificate_or_a_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not PEM at all\n").unwrap();
        let no_certificate = read_certificates(&empty).unwrap_err();
        assert!(format!("{no_certificate:#}").contains("empty.pem"));
        let no_key = read_private_key(&empty).unwrap_err();
        assert!(format!("{no_key:#}").contains("empty.pem"));
    }

    /// The key a PKCS#8 document wraps (PKCS#1 for RSA, SEC1 for EC): the
    /// contents of the OCTET STRING after its version and algorithm.
    fn key_inside_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
        let (_, body, _) = der_field(pkcs8);
        let (_, _version, rest) = der_field(body);
        let (_, _algorithm, rest) = der_field(rest);
        let (tag, key, _) = der_field(rest);
        assert_eq!(tag, 0x04, "an OCTET STRING");
        key.to_vec()
    }

    /// One DER field: its tag, contents and what follows it.
    fn der_field(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (input[0], input[1]);
        let (length, start) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let count = usize::from(first & 0x7f);
            let length = input[2..2 + count]
                .iter()
                .fold(0, |n, &b| (n << 8) | usize::from(b));
            (length, 2 + count)
        };
        (tag, &input[start..start + length], &input[start + length..])
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let base64 = STANDARD.encode(der);
        let lines: Vec<&str> = base64
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }
}
