//! Seals signing secrets before they are stored. With a key configured they
//! are encrypted with XChaCha20-Poly1305, bound to their webhook's id so a
//! sealed value cannot be moved to another row; without one they are stored
//! as they are and the service warns at start-up.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretSlice};

use crate::domain::{SigningSecret, WebhookId};

const SEALED: &str = "xc20p1:";
const PLAIN: &str = "plain:";
const NONCE_LEN: usize = 24;

/// Encrypts and decrypts stored signing secrets.
#[derive(Clone)]
pub struct SecretBox {
    key: Option<SecretSlice<u8>>,
}

/// A stored secret could not be opened: wrong key, or no key for a sealed value.
#[derive(Debug, thiserror::Error)]
#[error("a stored signing secret could not be decrypted (is WEBHOOK_ENCRYPTION_KEY right?)")]
pub struct OpenError;

impl SecretBox {
    /// `key` is 32 bytes, or `None` to store secrets unencrypted.
    pub fn new(key: Option<[u8; 32]>) -> Self {
        Self {
            key: key.map(|k| SecretSlice::from(k.to_vec())),
        }
    }

    /// True when secrets are encrypted at rest.
    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    fn cipher(&self) -> Option<XChaCha20Poly1305> {
        let key = self.key.as_ref()?;
        Some(XChaCha20Poly1305::new_from_slice(key.expose_secret()).expect("key is 32 bytes"))
    }

    /// The text to store for `secret`.
    pub fn seal(&self, webhook: WebhookId, secret: &SigningSecret) -> String {
        let Some(cipher) = self.cipher() else {
            return format!("{PLAIN}{}", secret.expose());
        };
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let aad = webhook.as_uuid();
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: aad.as_bytes(),
        };
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(XNonce::from_slice(&nonce), payload)
                .expect("encryption of a short message cannot fail"),
        );
        format!("{SEALED}{}", STANDARD.encode(out))
    }

    /// The secret that `seal` stored for `webhook`.
    pub fn open(&self, webhook: WebhookId, stored: &str) -> Result<SigningSecret, OpenError> {
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return Ok(SigningSecret::from_stored(plain.to_owned()));
        }
        let sealed = stored.strip_prefix(SEALED).ok_or(OpenError)?;
        let cipher = self.cipher().ok_or(OpenError)?;
        let bytes = STANDARD.decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let aad = webhook.as_uuid();
        let payload = Payload {
            msg: ciphertext,
            aad: aad.as_bytes(),
        };
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| OpenError)?;
        String::from_utf8(plain)
            .map(SigningSecret::from_stored)
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_id_only() {
        let secret = SigningSecret::generate();
        let id = WebhookId::generate();
        let sealed_box = SecretBox::new(Some([7; 32]));
        let stored = sealed_box.seal(id, &secret);
        assert!(!stored.contains(secret.expose()));
        assert_eq!(
            sealed_box.open(id, &stored).unwrap().expose(),
            secret.expose()
        );
        assert!(sealed_box.open(WebhookId::generate(), &stored).is_err());
        assert!(SecretBox::new(Some([8; 32])).open(id, &stored).is_err());
        assert!(SecretBox::new(None).open(id, &stored).is_err());
    }

    #[test]
    fn without_a_key_secrets_are_stored_plain_and_still_readable_later() {
        let secret = SigningSecret::generate();
        let id = WebhookId::generate();
        let stored = SecretBox::new(None).seal(id, &secret);
        let opened = SecretBox::new(Some([7; 32])).open(id, &stored).unwrap();
        assert_eq!(opened.expose(), secret.expose());
    }
}
