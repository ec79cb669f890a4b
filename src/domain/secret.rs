//! The secret a webhook's deliveries are signed with: an HMAC secret, or
//! an ed25519 private key (whose public key is no secret).

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::SigningKey;
use secrecy::{ExposeSecret, SecretString};

use super::SignatureScheme;

const PREFIX: &str = "whsec_";
/// Standard Webhooks' prefix of an ed25519 private key (its 32-byte seed).
const PRIVATE_PREFIX: &str = "whsk_";
/// Standard Webhooks' prefix of an ed25519 public key.
const PUBLIC_PREFIX: &str = "whpk_";
const KEY_BYTES: usize = 32;

/// `whsec_` + standard base64 of 32 random bytes (HMAC), or `whsk_` + the
/// standard base64 of an ed25519 seed: the forms the Standard Webhooks
/// libraries accept. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl SigningSecret {
    /// A fresh HMAC secret from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::generate_for(SignatureScheme::HmacSha256)
    }

    /// A fresh secret of `scheme` from the operating system's CSPRNG: for
    /// ed25519 the 32 random bytes are the private key's seed.
    pub fn generate_for(scheme: SignatureScheme) -> Self {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        let prefix = match scheme {
            SignatureScheme::HmacSha256 => PREFIX,
            SignatureScheme::Ed25519 => PRIVATE_PREFIX,
        };
        Self(SecretString::from(format!(
            "{prefix}{}",
            STANDARD.encode(key)
        )))
    }

    /// The ed25519 key of a `whsk_` secret; `None` for any other text.
    pub fn ed25519_key(&self) -> Option<SigningKey> {
        let encoded = self.expose().strip_prefix(PRIVATE_PREFIX)?;
        let mut seed = [0u8; KEY_BYTES];
        // Into a fixed array, so a wrong length is refused, not truncated.
        match STANDARD.decode_slice(encoded, &mut seed) {
            Ok(KEY_BYTES) => Some(SigningKey::from_bytes(&seed)),
            _ => None,
        }
    }

    /// The public key of a `whsk_` secret; `None` for an HMAC secret.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.ed25519_key().map(|key| PublicKey::of(&key))
    }

    /// Wraps a secret read back from the store.
    pub fn from_stored(text: String) -> Self {
        Self(SecretString::from(text))
    }

    /// The full `whsec_...` text. Call only to return it once, to store it, or
    /// to sign with it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(REDACTED)")
    }
}

/// `whpk_` + the standard base64 of an ed25519 public key (32 bytes): what
/// receivers verify `v1a` signatures with. Not a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(String);

impl PublicKey {
    fn of(key: &SigningKey) -> Self {
        let public = key.verifying_key().to_bytes();
        Self(format!("{PUBLIC_PREFIX}{}", STANDARD.encode(public)))
    }

    /// Wraps a public key read back from the store.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_standard_webhooks_format() {
        let secret = SigningSecret::generate();
        let text = secret.expose();
        let key = STANDARD.decode(text.strip_prefix(PREFIX).unwrap()).unwrap();
        assert_eq!(key.len(), KEY_BYTES);
        assert_eq!(text.len(), PREFIX.len() + 44);
    }

    #[test]
    fn two_secrets_differ_and_debug_hides_them() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        assert_ne!(a.expose(), b.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn an_ed25519_secret_is_a_seed_with_its_public_key() {
        let secret = SigningSecret::generate_for(SignatureScheme::Ed25519);
        let text = secret.expose();
        let seed = STANDARD
            .decode(text.strip_prefix(PRIVATE_PREFIX).unwrap())
            .unwrap();
        assert_eq!(seed.len(), KEY_BYTES);
        let key = secret.ed25519_key().unwrap();
        let public = secret.public_key().unwrap();
        let public = STANDARD
            .decode(public.as_str().strip_prefix(PUBLIC_PREFIX).unwrap())
            .unwrap();
        assert_eq!(public, key.verifying_key().to_bytes());
        assert!(!format!("{secret:?}").contains(text));
    }

    #[test]
    fn only_a_whole_whsk_seed_is_an_ed25519_key() {
        assert!(SigningSecret::generate().ed25519_key().is_none());
        assert!(SigningSecret::generate().public_key().is_none());
        let short =
            SigningSecret::from_stored(format!("{PRIVATE_PREFIX}{}", STANDARD.encode([7u8; 31])));
        assert!(short.ed25519_key().is_none());
        let long =
            SigningSecret::from_stored(format!("{PRIVATE_PREFIX}{}", STANDARD.encode([7u8; 33])));
        assert!(long.ed25519_key().is_none());
    }
}
