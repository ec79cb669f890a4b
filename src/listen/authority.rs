//! The receiver's own certificate authority, made with rcgen: its key and
//! certificate live in the state folder (`ca.key`, mode 0600, and `ca.pem`)
//! and are reused at every start, so that a service told to trust `ca.pem`
//! (WEBHOOK_CA_FILE) keeps trusting the receiver across its restarts. The
//! server certificate, for the loopback names, is made anew at each start
//! and never written down.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

use crate::tls::provider;

/// The names the server certificate is valid for.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

const NAME: &str = "webhook-service listen CA";

/// The CA: where its certificate is, and what signs with its key.
pub struct Authority {
    /// The CA certificate (PEM), for WEBHOOK_CA_FILE.
    pub certificate_file: PathBuf,
    /// False when it was made at this start.
    pub reused: bool,
    certificate: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    /// The CA in `state_dir`, made there (the folder too) when it holds none.
    pub fn open_or_create(state_dir: &Path) -> anyhow::Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
        let key_file = state_dir.join("ca.key");
        let certificate_file = state_dir.join("ca.pem");
        let reused = match (key_file.exists(), certificate_file.exists()) {
            (true, true) => true,
            (false, false) => {
                create(&key_file, &certificate_file)?;
                false
            }
            _ => bail!(
                "{} holds only one of ca.key and ca.pem: delete it to make a new CA",
                state_dir.display()
            ),
        };
        let key_pem = fs::read_to_string(&key_file)
            .with_context(|| format!("cannot read {}", key_file.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("{} holds no usable private key", key_file.display()))?;
        let certificate = CertificateDer::from_pem_file(&certificate_file).with_context(|| {
            format!(
                "cannot read a certificate from {}",
                certificate_file.display()
            )
        })?;
        let authority = Self {
            certificate_file,
            reused,
            certificate,
            // The issuer is the CA's name and key: the same parameters as
            // when it was made give the same issuer name and key identifier.
            issuer: Issuer::new(ca_params(), key),
        };
        Ok(authority)
    }

    /// A server configuration with a new certificate for [`LOOPBACK_NAMES`],
    /// checked to chain to the CA's certificate (a `ca.pem` that does not
    /// belong to `ca.key` is refused here, not at the first delivery).
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let key = KeyPair::generate().context("cannot make a key")?;
        let names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).context("loopback names")?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params
            .signed_by(&key, &self.issuer)
            .context("cannot sign the server certificate")?;
        self.check_chain(leaf.der())?;
        let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("the ring provider supports no TLS version")?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], private_key)
            .context("the server certificate and key are not a usable pair")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Verifies `leaf` for 127.0.0.1 as a client trusting only the CA would.
    fn check_chain(&self, leaf: &CertificateDer<'_>) -> anyhow::Result<()> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.certificate.clone())
            .with_context(|| format!("{} is not a usable CA", self.certificate_file.display()))?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .context("cannot build a verifier")?;
        let name = ServerName::try_from("127.0.0.1").expect("an IP address");
        verifier
            .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
            .map(|_| ())
            .with_context(|| {
                format!(
                    "the certificates signed with ca.key do not chain to {}: delete ca.key and \
                     ca.pem to make a new CA (and point WEBHOOK_CA_FILE at the new one)",
                    self.certificate_file.display()
                )
            })
    }
}

/// The CA's parameters: a name, and the right to sign certificates.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, NAME);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Makes a CA: its key into `key_file` (0600) and its certificate into
/// `certificate_file`, each written whole under another name and then
/// renamed, so that a reader never finds half of one.
fn create(key_file: &Path, certificate_file: &Path) -> anyhow::Result<()> {
    let key = KeyPair::generate().context("cannot make the CA's key")?;
    let certificate = ca_params()
        .self_signed(&key)
        .context("cannot make the CA's certificate")?;
    write_new(key_file, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(certificate_file, certificate.pem().as_bytes(), 0o644)
}

/// Writes `contents` to `path` with `mode`, through a temporary file.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()));
    written
        .and_then(|()| fs::rename(&temporary, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_is_made_once_then_reused_with_its_key_private() {
        let dir = tempfile_dir();
        let first = Authority::open_or_create(&dir).unwrap();
        assert!(!first.reused);
        first.server_config().unwrap();
        let pem = fs::read(&first.certificate_file).unwrap();
        let mode = fs::metadata(dir.join("ca.key")).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        let again = Authority::open_or_create(&dir).unwrap();
        assert!(again.reused);
        assert_eq!(fs::read(&again.certificate_file).unwrap(), pem);
        again.server_config().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_certificate_that_is_not_the_keys_is_refused() {
        let (one, other) = (tempfile_dir(), tempfile_dir());
        Authority::open_or_create(&one).unwrap();
        Authority::open_or_create(&other).unwrap();
        fs::copy(other.join("ca.pem"), one.join("ca.pem")).unwrap();
        let error = Authority::open_or_create(&one)
            .unwrap()
            .server_config()
            .unwrap_err();
        assert!(format!("{error:#}").contains("do not chain"), "{error:#}");
        fs::remove_dir_all(&one).unwrap();
        fs::remove_dir_all(&other).unwrap();
    }

    /// A new folder name under the temporary folder (not created).
    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().join(format!("listen-ca-test-{}", uuid::Uuid::new_v4()))
    }
}
