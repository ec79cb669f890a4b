//! Seals secrets before they are stored: webhooks' signing secrets and the
//! keys the service makes itself (`service_keys`). With a key configured
//! they are encrypted with XChaCha20-Poly1305, bound to their webhook's id or
//! key's name so a sealed value cannot be moved to another row; without one
//! they are stored as they are and the service warns at start-up.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

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
#[error("a stored secret could not be decrypted (is WEBHOOK_ENCRYPTION_KEY right?)")]
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
        let aad = webhook.as_uuid();
        self.encrypt(aad.as_bytes(), secret.expose().as_bytes())
            .unwrap_or_else(|| format!("{PLAIN}{}", secret.expose()))
    }

    /// The secret that `seal` stored for `webhook`.
    pub fn open(&self, webhook: WebhookId, stored: &str) -> Result<SigningSecret, OpenError> {
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return Ok(SigningSecret::from_stored(plain.to_owned()));
        }
        let aad = webhook.as_uuid();
        let plain = self.decrypt(aad.as_bytes(), stored)?;
        String::from_utf8(plain)
            .map(SigningSecret::from_stored)
            .map_err(|_| OpenError)
    }

    /// The text to store for the value of `webhook`'s header `name`, bound
    /// to both: it opens for no other webhook and no other header.
    pub fn seal_header(&self, webhook: WebhookId, name: &str, value: &str) -> String {
        self.encrypt(header_aad(webhook, name).as_bytes(), value.as_bytes())
            .unwrap_or_else(|| format!("{PLAIN}{value}"))
    }

    /// The header value that `seal_header` stored.
    pub fn open_header(
        &self,
        webhook: WebhookId,
        name: &str,
        stored: &str,
    ) -> Result<SecretString, OpenError> {
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return Ok(plain.into());
        }
        let plain = self.decrypt(header_aad(webhook, name).as_bytes(), stored)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| OpenError)
    }

    /// The text to store for `text`, a secret of `webhook` sealed for
    /// `purpose` (its column): it opens for that pair only.
    pub fn seal_text(&self, purpose: &str, webhook: WebhookId, text: &str) -> String {
        let aad = format!("{purpose}:{}", webhook.as_uuid());
        self.encrypt(aad.as_bytes(), text.as_bytes())
            .unwrap_or_else(|| format!("{PLAIN}{text}"))
    }

    /// The text that `seal_text` stored for `purpose` and `webhook`.
    pub fn open_text(
        &self,
        purpose: &str,
        webhook: WebhookId,
        stored: &str,
    ) -> Result<String, OpenError> {
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return Ok(plain.to_owned());
        }
        let aad = format!("{purpose}:{}", webhook.as_uuid());
        let plain = self.decrypt(aad.as_bytes(), stored)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }

    /// The bytes to store for the service key `name`.
    pub fn seal_key(&self, name: &str, key: &[u8]) -> Vec<u8> {
        self.encrypt(key_aad(name).as_bytes(), key)
            .unwrap_or_else(|| format!("{PLAIN}{}", STANDARD.encode(key)))
            .into_bytes()
    }

    /// The service key that `seal_key` stored under `name`.
    pub fn open_key(&self, name: &str, stored: &[u8]) -> Result<Vec<u8>, OpenError> {
        let stored = std::str::from_utf8(stored).map_err(|_| OpenError)?;
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return STANDARD.decode(plain).map_err(|_| OpenError);
        }
        self.decrypt(key_aad(name).as_bytes(), stored)
    }

    /// The text to store for `webhook`'s client certificate key (PEM).
    pub fn seal_client_key(&self, webhook: WebhookId, key_pem: &SecretString) -> String {
        let key = key_pem.expose_secret();
        self.encrypt(&client_key_aad(webhook), key.as_bytes())
            .unwrap_or_else(|| format!("{PLAIN}{key}"))
    }

    /// The client certificate key that `seal_client_key` stored for `webhook`.
    pub fn open_client_key(
        &self,
        webhook: WebhookId,
        stored: &str,
    ) -> Result<SecretString, OpenError> {
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return Ok(SecretString::from(plain.to_owned()));
        }
        let plain = self.decrypt(&client_key_aad(webhook), stored)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| OpenError)
    }

    /// `msg` encrypted and bound to `aad`, as stored text; `None` without a key.
    fn encrypt(&self, aad: &[u8], msg: &[u8]) -> Option<String> {
        let cipher = self.cipher()?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(XNonce::from_slice(&nonce), Payload { msg, aad })
                .expect("encryption of a short message cannot fail"),
        );
        Some(format!("{SEALED}{}", STANDARD.encode(out)))
    }

    /// What `encrypt` sealed with `aad`.
    fn decrypt(&self, aad: &[u8], stored: &str) -> Result<Vec<u8>, OpenError> {
        let sealed = stored.strip_prefix(SEALED).ok_or(OpenError)?;
        let cipher = self.cipher().ok_or(OpenError)?;
        let bytes = STANDARD.decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, msg) = bytes.split_at(NONCE_LEN);
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
            .map_err(|_| OpenError)
    }
}

/// What a header value is bound to: its webhook and its name.
fn header_aad(webhook: WebhookId, name: &str) -> String {
    format!("headers:{}:{name}", webhook.as_uuid())
}

/// What a client certificate key is bound to: its webhook, and its use, so
/// that it cannot be moved into the signing secret's column of the row.
fn client_key_aad(webhook: WebhookId) -> Vec<u8> {
    let mut aad = b"client_certificate:".to_vec();
    aad.extend_from_slice(webhook.as_uuid().as_bytes());
    aad
}

/// What a service key is bound to: never a webhook id's 16 bytes.
fn key_aad(name: &str) -> String {
    format!("service_keys:{name}")
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

    #[test]
    fn a_sealed_header_value_opens_for_its_webhook_and_name_only() {
        let id = WebhookId::generate();
        let sealed_box = SecretBox::new(Some([7; 32]));
        let stored = sealed_box.seal_header(id, "authorization", "Bearer xyz");
        assert!(!stored.contains("xyz"));
        let opened = sealed_box
            .open_header(id, "authorization", &stored)
            .unwrap();
        assert_eq!(opened.expose_secret(), "Bearer xyz");
        assert!(sealed_box.open_header(id, "x-api-key", &stored).is_err());
        assert!(
            sealed_box
                .open_header(WebhookId::generate(), "authorization", &stored)
                .is_err()
        );
        assert!(sealed_box.open(id, &stored).is_err());
    }

    #[test]
    fn a_service_key_is_sealed_under_its_name_and_readable_plain_later() {
        let key = [9u8; 32];
        let sealed_box = SecretBox::new(Some([7; 32]));
        let stored = sealed_box.seal_key("portal", &key);
        assert!(!stored.windows(key.len()).any(|w| w == key));
        assert!(stored.starts_with(SEALED.as_bytes()));
        assert_eq!(sealed_box.open_key("portal", &stored).unwrap(), key);
        assert!(sealed_box.open_key("other", &stored).is_err());
        assert!(SecretBox::new(None).open_key("portal", &stored).is_err());

        let plain = SecretBox::new(None).seal_key("portal", &key);
        assert_eq!(sealed_box.open_key("portal", &plain).unwrap(), key);
    }

    #[test]
    fn a_client_key_opens_for_its_webhook_and_use_only() {
        let key = SecretString::from("-----BEGIN PRIVATE KEY-----\nabc\n".to_owned());
        let id = WebhookId::generate();
        let sealed_box = SecretBox::new(Some([7; 32]));
        let stored = sealed_box.seal_client_key(id, &key);
        assert!(!stored.contains("PRIVATE KEY"));
        let opened = sealed_box.open_client_key(id, &stored).unwrap();
        assert_eq!(opened.expose_secret(), key.expose_secret());
        assert!(
            sealed_box
                .open_client_key(WebhookId::generate(), &stored)
                .is_err()
        );
        // Bound to its use: not readable as the webhook's signing secret.
        assert!(sealed_box.open(id, &stored).is_err());
        assert!(SecretBox::new(None).open_client_key(id, &stored).is_err());
    }
}
