//! The signatures a delivery carries. An HMAC webhook's:
//!
//! - `X-Webhook-Signature: sha256=<hex>`: HMAC-SHA256 keyed with the secret
//!   string exactly as CreateWebhook returned it, over the raw body. A
//!   one-liner to verify in any language.
//! - `webhook-signature: v1,<base64>`: the Standard Webhooks scheme, keyed with
//!   the base64-decoded bytes after `whsec_`, over `id.timestamp.body`, so the
//!   official verification libraries accept our deliveries.
//!
//! An ed25519 webhook's: only `webhook-signature: v1a,<base64>`, the
//! Standard Webhooks asymmetric scheme over the same content, verified with
//! the `whpk_` public key. No `X-Webhook-Signature`: it would be keyed with
//! a secret its receiver does not have.

use base64::{DecodeSliceError, Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{SignatureScheme, SigningSecret};

type HmacSha256 = Hmac<Sha256>;

/// `v1,` and the base64 of an HMAC-SHA256: 3 + 44 bytes.
const V1_LEN: usize = 3 + 44;
/// `v1a,` and the base64 of an ed25519 signature: 4 + 88 bytes.
const V1A_LEN: usize = 4 + 88;

/// How one claimed delivery is signed: its webhook's live secrets, newest
/// first, the ed25519 ones parsed once for the claim. Each attempt signs
/// anew, since its timestamp is part of what is signed.
pub enum Signer<'a> {
    Hmac {
        current: &'a SigningSecret,
        previous: &'a [SigningSecret],
    },
    Ed25519(Vec<SigningKey>),
}

impl<'a> Signer<'a> {
    /// The signer of `scheme` with `current` and the `previous` secrets
    /// still in their grace period. A stored key that is no ed25519 key
    /// (never one this service made) is logged and left out.
    pub fn new(
        scheme: SignatureScheme,
        current: &'a SigningSecret,
        previous: &'a [SigningSecret],
    ) -> Self {
        match scheme {
            SignatureScheme::HmacSha256 => Signer::Hmac { current, previous },
            SignatureScheme::Ed25519 => Signer::Ed25519(
                std::iter::once(current)
                    .chain(previous)
                    .filter_map(|secret| {
                        let key = secret.ed25519_key();
                        if key.is_none() {
                            tracing::error!("an ed25519 webhook's stored key is not a whsk_ key");
                        }
                        key
                    })
                    .collect(),
            ),
        }
    }

    /// `X-Webhook-Signature`: HMAC webhooks only.
    pub fn hex_signature(&self, body: &[u8]) -> Option<String> {
        match self {
            Signer::Hmac { current, .. } => Some(hex_signature(current.expose(), body)),
            Signer::Ed25519(_) => None,
        }
    }

    /// `webhook-signature`: one entry per live key, newest first, separated
    /// by spaces, as the Standard Webhooks specification allows. Written
    /// into one string of the exact length, nothing else allocated.
    pub fn standard_signatures(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut entries = String::new();
        match self {
            Signer::Hmac { current, previous } => {
                let live = std::iter::once(*current).chain(previous.iter());
                entries.reserve((1 + previous.len()) * (V1_LEN + 1) - 1);
                for secret in live {
                    if let Some(mac) = standard_mac(secret.expose(), id, timestamp, body) {
                        separate(&mut entries);
                        entries.push_str("v1,");
                        STANDARD.encode_string(mac, &mut entries);
                    }
                }
            }
            Signer::Ed25519(keys) => {
                let content = signed_content(id, timestamp, body);
                entries.reserve((keys.len() * (V1A_LEN + 1)).saturating_sub(1));
                for key in keys {
                    separate(&mut entries);
                    entries.push_str("v1a,");
                    STANDARD.encode_string(key.sign(&content).to_bytes(), &mut entries);
                }
            }
        }
        entries
    }
}

/// Before each entry of `webhook-signature` but the first: a space.
fn separate(entries: &mut String) {
    if !entries.is_empty() {
        entries.push(' ');
    }
}

/// What Standard Webhooks signs: `id.timestamp.body`.
fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut decimal = itoa::Buffer::new();
    let timestamp = decimal.format(timestamp);
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// `v1a,<base64 of the 64-byte ed25519 signature>` of `content`, one
/// entry alone: the tests' reference for [`Signer::standard_signatures`].
#[cfg(test)]
fn v1a_signature(key: &SigningKey, content: &[u8]) -> String {
    format!("v1a,{}", STANDARD.encode(key.sign(content).to_bytes()))
}

/// `v1a,<base64>` per the Standard Webhooks specification, or `None` when
/// the secret is not a `whsk_` ed25519 key. Deliveries sign through
/// [`Signer`]; this one-shot form is for the tests that check them.
#[cfg(test)]
pub fn v1a_standard_signature(
    secret: &SigningSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let key = secret.ed25519_key()?;
    Some(v1a_signature(&key, &signed_content(id, timestamp, body)))
}

/// `sha256=<lowercase hex>` of the body, keyed with the whole secret text.
pub fn hex_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let mut hex = [0u8; 64];
    hex::encode_to_slice(mac.finalize().into_bytes(), &mut hex).expect("32 bytes are 64 digits");
    let mut signature = String::with_capacity(7 + hex.len());
    signature.push_str("sha256=");
    signature.push_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"));
    signature
}

/// `v1,<base64>` per the Standard Webhooks specification, or `None` when the
/// secret is not `whsec_` + base64.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let mac = standard_mac(secret, id, timestamp, body)?;
    let mut signature = String::with_capacity(V1_LEN);
    signature.push_str("v1,");
    STANDARD.encode_string(mac, &mut signature);
    Some(signature)
}

/// The HMAC-SHA256 of `id.timestamp.body` keyed with the bytes of a
/// `whsec_` secret, or `None` when the secret is not `whsec_` + base64.
fn standard_mac(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<[u8; 32]> {
    let encoded = secret.strip_prefix("whsec_")?;
    // Decoded on the stack: ours are 32 bytes, an imported one may be
    // longer (HMAC takes any length), and only such a one is decoded on
    // the heap.
    let mut stack = [0u8; 96];
    let heap;
    let key = match STANDARD.decode_slice(encoded, &mut stack) {
        Ok(n) => &stack[..n],
        Err(DecodeSliceError::OutputSliceTooSmall) => {
            heap = STANDARD.decode(encoded).ok()?;
            &heap[..]
        }
        Err(DecodeSliceError::DecodeError(_)) => return None,
    };
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(itoa::Buffer::new().format(timestamp).as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test suite.
        let signature = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn hex_signature_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hex_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 8032 section 7.1, test 1: its secret key as a `whsk_` seed.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn rfc8032_secret() -> SigningSecret {
        let seed = hex::decode(RFC8032_SEED).unwrap();
        SigningSecret::from_stored(format!("whsk_{}", STANDARD.encode(seed)))
    }

    #[test]
    fn v1a_signs_the_rfc8032_empty_message_as_the_rfc_says() {
        // Test 1's message is empty, which no delivery signs: sign it
        // directly, to pin the `whsk_` seed handling to the RFC's output.
        let key = rfc8032_secret().ed25519_key().unwrap();
        assert_eq!(hex::encode(key.verifying_key().to_bytes()), RFC8032_PUBLIC);
        assert_eq!(
            v1a_signature(&key, b""),
            format!(
                "v1a,{}",
                STANDARD.encode(
                    hex::decode(
                        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                         5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
                    )
                    .unwrap()
                )
            )
        );
    }

    #[test]
    fn v1a_verifies_with_the_public_key_over_id_timestamp_body() {
        let secret = rfc8032_secret();
        let signature =
            v1a_standard_signature(&secret, "msg_1", 1614265330, br#"{"a":1}"#).unwrap();
        let bytes: [u8; 64] = STANDARD
            .decode(signature.strip_prefix("v1a,").unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let public: [u8; 32] = hex::decode(RFC8032_PUBLIC).unwrap().try_into().unwrap();
        let public = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        public
            .verify_strict(br#"msg_1.1614265330.{"a":1}"#, &signature)
            .unwrap();
        assert!(
            public
                .verify_strict(br#"msg_1.1614265331.{"a":1}"#, &signature)
                .is_err()
        );
    }

    #[test]
    fn an_ed25519_signer_sends_one_v1a_per_live_key_and_no_hex_signature() {
        let (new, old) = (
            SigningSecret::generate_for(SignatureScheme::Ed25519),
            SigningSecret::generate_for(SignatureScheme::Ed25519),
        );
        let previous = [old.clone()];
        let signer = Signer::new(SignatureScheme::Ed25519, &new, &previous);
        assert_eq!(signer.hex_signature(b"{}"), None);
        let header = signer.standard_signatures("id", 7, b"{}");
        let expected = [&new, &old].map(|s| v1a_standard_signature(s, "id", 7, b"{}").unwrap());
        assert_eq!(header, expected.join(" "));
    }

    #[test]
    fn an_hmac_signer_signs_as_before() {
        let secret = SigningSecret::generate();
        let signer = Signer::new(SignatureScheme::HmacSha256, &secret, &[]);
        assert_eq!(
            signer.hex_signature(b"{}"),
            Some(hex_signature(secret.expose(), b"{}"))
        );
        assert_eq!(
            signer.standard_signatures("id", 7, b"{}"),
            standard_signature(secret.expose(), "id", 7, b"{}").unwrap()
        );
    }

    #[test]
    fn an_hmac_signer_signs_with_every_live_secret_newest_first() {
        let (new, old) = (SigningSecret::generate(), SigningSecret::generate());
        // A previous secret that is not `whsec_` + base64 is left out,
        // without an empty entry.
        let previous = [
            old.clone(),
            SigningSecret::from_stored("not-a-secret".into()),
        ];
        let signer = Signer::new(SignatureScheme::HmacSha256, &new, &previous);
        let expected =
            [&new, &old].map(|s| standard_signature(s.expose(), "id", 7, b"{}").unwrap());
        assert_eq!(
            signer.standard_signatures("id", 7, b"{}"),
            expected.join(" ")
        );
        assert_eq!(
            signer.hex_signature(b"{}"),
            Some(hex_signature(new.expose(), b"{}"))
        );
    }

    #[test]
    fn a_secret_longer_than_the_stack_buffer_signs_as_hmac_says() {
        // 200 bytes, as an imported secret could be: decoded on the heap.
        let key: Vec<u8> = (0..200u8).collect();
        let secret = format!("whsec_{}", STANDARD.encode(&key));
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        mac.update(b"msg_1.1614265330.{}");
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(
            standard_signature(&secret, "msg_1", 1614265330, b"{}"),
            Some(expected)
        );
        assert_eq!(
            standard_signature("whsec_not base64!", "id", 1, b"{}"),
            None
        );
    }

    #[test]
    fn a_secret_without_the_prefix_has_no_standard_signature() {
        assert_eq!(standard_signature("secret", "id", 1, b"{}"), None);
    }
}
