//! A webhook's client certificate: the chain and private key presented in
//! the TLS handshake to its endpoint (mutual TLS). The chain is public; the
//! key is a secret, sealed at rest and never returned.

use chrono::{DateTime, Utc};
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::Violations;

/// The largest chain accepted, in bytes of PEM.
pub const MAX_CHAIN_BYTES: usize = 16 * 1024;
/// The most certificates a chain may hold, leaf included.
pub const MAX_CERTIFICATES: usize = 5;
/// The largest private key accepted, in bytes of PEM (an RSA 8192 key is
/// about 6.5 KiB).
pub const MAX_KEY_BYTES: usize = 16 * 1024;

const CHAIN_FIELD: &str = "client_certificate.certificate_chain_pem";
const KEY_FIELD: &str = "client_certificate.private_key_pem";

/// A client certificate as a caller gives it, not yet checked. Its `Debug`
/// never shows the key.
#[derive(Debug, Clone)]
pub struct ClientCertificateInput {
    /// PEM certificates, the leaf first.
    pub certificate_chain_pem: String,
    /// One PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub private_key_pem: SecretString,
}

/// What reads show of a webhook's client certificate: its leaf's names,
/// validity and fingerprint, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the leaf's DER, lowercase hex.
    pub sha256_fingerprint: String,
}

/// A checked chain and key: the chain parses, holds 1 to
/// [`MAX_CERTIFICATES`] certificates, its leaf has not expired, and the key
/// is the leaf's. Built only by [`ClientCertificate::parse`].
#[derive(Clone)]
pub struct ClientCertificate {
    chain_pem: String,
    key_pem: SecretString,
    info: ClientCertificateInfo,
}

impl ClientCertificate {
    /// Checks a caller's certificate at `now`, reporting what is wrong
    /// against `client_certificate.certificate_chain_pem` or
    /// `client_certificate.private_key_pem`.
    pub fn parse(input: &ClientCertificateInput, now: DateTime<Utc>) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let chain = violations.check(CHAIN_FIELD, parse_chain(&input.certificate_chain_pem));
        let key = violations.check(KEY_FIELD, parse_key(input.private_key_pem.expose_secret()));
        let (Some(chain), Some(key)) = (chain, key) else {
            return Err(violations);
        };
        let info = match ClientCertificateInfo::of_leaf(&chain[0]) {
            Ok(info) => info,
            Err(why) => {
                violations.add(CHAIN_FIELD, why);
                return Err(violations);
            }
        };
        if info.not_after <= now {
            violations.add(
                CHAIN_FIELD,
                format!(
                    "the first (leaf) certificate expired at {}",
                    info.not_after.to_rfc3339()
                ),
            );
        }
        if let Err(why) = key_matches(chain, key) {
            violations.add(KEY_FIELD, why);
        }
        violations.into_result()?;
        Ok(Self {
            chain_pem: input.certificate_chain_pem.clone(),
            key_pem: input.private_key_pem.clone(),
            info,
        })
    }

    /// The chain as given, to store in clear (it is public).
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The key's PEM text. Call only to seal it.
    pub fn key_pem(&self) -> &SecretString {
        &self.key_pem
    }

    /// What reads show of it.
    pub fn info(&self) -> &ClientCertificateInfo {
        &self.info
    }
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ClientCertificate {
    fn eq(&self, other: &Self) -> bool {
        self.chain_pem == other.chain_pem
            && self.key_pem.expose_secret() == other.key_pem.expose_secret()
    }
}

impl Eq for ClientCertificate {}

impl ClientCertificateInfo {
    /// The info of a chain stored after [`ClientCertificate::parse`] checked it.
    pub fn of_chain(chain_pem: &str) -> Result<Self, String> {
        let chain = parse_chain(chain_pem)?;
        Self::of_leaf(&chain[0])
    }

    fn of_leaf(leaf: &CertificateDer<'_>) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| format!("the first (leaf) certificate is not valid X.509: {e}"))?;
        let validity = cert.validity();
        let time = |t: x509_parser::time::ASN1Time| {
            DateTime::from_timestamp(t.timestamp(), 0)
                .ok_or_else(|| "the leaf's validity is out of range".to_owned())
        };
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: time(validity.not_before)?,
            not_after: time(validity.not_after)?,
            sha256_fingerprint: hex::encode(Sha256::digest(leaf.as_ref())),
        })
    }
}

/// Every certificate of a PEM chain, within the caps.
pub fn parse_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if pem.len() > MAX_CHAIN_BYTES {
        return Err(format!(
            "holds {} bytes; at most {MAX_CHAIN_BYTES} are accepted",
            pem.len()
        ));
    }
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    if chain.len() > MAX_CERTIFICATES {
        return Err(format!(
            "holds {} certificates; at most {MAX_CERTIFICATES} are accepted",
            chain.len()
        ));
    }
    Ok(chain)
}

/// The one private key of a PEM text.
pub fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    if pem.len() > MAX_KEY_BYTES {
        return Err(format!("is longer than {MAX_KEY_BYTES} bytes"));
    }
    let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        // The parser's message may quote the text: never echo a key.
        .map_err(|_| "is not valid PEM".to_owned())?;
    let mut keys: Vec<PrivateKeyDer<'static>> = sections
        .into_iter()
        .filter_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
        .collect();
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => Err("holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned()),
        n => Err(format!("holds {n} private keys; give exactly one")),
    }
}

/// Whether `key` is the private key of the chain's leaf, and of a kind the
/// TLS stack can sign with.
fn key_matches(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<(), String> {
    let provider = rustls::crypto::ring::default_provider();
    let certified =
        rustls::sign::CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                "is not the private key of the first (leaf) certificate".to_owned()
            }
            _ => "is not a usable RSA, ECDSA or Ed25519 private key".to_owned(),
        })?;
    // `from_der` lets a key whose public half is unknown through; refuse it.
    certified
        .keys_match()
        .map_err(|_| "is not the private key of the first (leaf) certificate".to_owned())
}

/// A webhook's certificate as a claim carries it to the sender: the PEM
/// texts, and a digest of both that names the identity (the sender keeps
/// one HTTP client per identity, found by it without parsing PEM).
#[derive(Clone)]
pub struct ClientIdentity {
    chain_pem: String,
    key_pem: SecretString,
    digest: [u8; 32],
}

impl ClientIdentity {
    /// The identity of a stored chain and its opened key.
    pub fn new(chain_pem: String, key_pem: SecretString) -> Self {
        let mut hash = Sha256::new();
        hash.update((chain_pem.len() as u64).to_be_bytes());
        hash.update(chain_pem.as_bytes());
        hash.update(key_pem.expose_secret().as_bytes());
        Self {
            chain_pem,
            key_pem,
            digest: hash.finalize().into(),
        }
    }

    /// Names the identity: equal for the same chain and key.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The key's PEM text. Call only to build a TLS configuration.
    pub fn key_pem(&self) -> &str {
        self.key_pem.expose_secret()
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientIdentity({})", hex::encode(&self.digest[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    /// A self-signed certificate and its key; `expired` ended in 2021.
    fn certificate(expired: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["client.test".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = match expired {
            true => rcgen::date_time_ymd(2021, 1, 1),
            false => rcgen::date_time_ymd(2099, 1, 1),
        };
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn input(chain: &str, key: &str) -> ClientCertificateInput {
        ClientCertificateInput {
            certificate_chain_pem: chain.to_owned(),
            private_key_pem: SecretString::from(key.to_owned()),
        }
    }

    fn fields(err: Violations) -> Vec<String> {
        err.reported().iter().map(|v| v.field.to_string()).collect()
    }

    #[test]
    fn a_matching_valid_pair_parses_with_its_info() {
        let (chain, key) = certificate(false);
        let parsed = ClientCertificate::parse(&input(&chain, &key), Utc::now()).unwrap();
        assert!(
            parsed.info().subject.contains("rcgen"),
            "{:?}",
            parsed.info()
        );
        assert_eq!(parsed.info().sha256_fingerprint.len(), 64);
        assert!(parsed.info().not_after > Utc::now());
        assert!(!format!("{parsed:?}").contains("PRIVATE KEY"));
        assert_eq!(
            ClientCertificateInfo::of_chain(&chain).unwrap(),
            *parsed.info()
        );
    }

    #[test]
    fn refusals_name_the_field_at_fault() {
        let (chain, key) = certificate(false);
        let (_, other_key) = certificate(false);
        let (expired, expired_key) = certificate(true);
        let cases = [
            (input("garbage", &key), CHAIN_FIELD),
            (input(&chain, "garbage"), KEY_FIELD),
            (input(&chain, ""), KEY_FIELD),
            (input(&chain, &format!("{key}{other_key}")), KEY_FIELD),
            (input(&chain, &other_key), KEY_FIELD),
            (input(&expired, &expired_key), CHAIN_FIELD),
            (input(&chain.repeat(6), &key), CHAIN_FIELD),
            (input(&"x".repeat(MAX_CHAIN_BYTES + 1), &key), CHAIN_FIELD),
        ];
        for (case, field) in cases {
            let err = ClientCertificate::parse(&case, Utc::now()).unwrap_err();
            assert_eq!(fields(err), [field]);
        }
    }

    #[test]
    fn an_identity_is_named_by_its_chain_and_key() {
        let (chain, key) = certificate(false);
        let (_, other_key) = certificate(false);
        let a = ClientIdentity::new(chain.clone(), SecretString::from(key.clone()));
        let b = ClientIdentity::new(chain.clone(), SecretString::from(key));
        let c = ClientIdentity::new(chain, SecretString::from(other_key));
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
    }
}
