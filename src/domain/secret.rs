//! The secret a webhook's deliveries are signed with.

use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretString};

const PREFIX: &str = "whsec_";
const KEY_BYTES: usize = 32;

/// `whsec_` + standard base64 of 32 random bytes: the form the Standard
/// Webhooks libraries accept. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl SigningSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        Self(SecretString::from(format!(
            "{PREFIX}{}",
            STANDARD.encode(key)
        )))
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
}
