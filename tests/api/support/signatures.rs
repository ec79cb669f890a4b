//! The signatures a delivery should carry, computed as a receiver would.

use super::*;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The `webhook-signature` entry (`v1,<base64>`) that `secret` (`whsec_…`)
/// gives a request: Standard Webhooks, over `{id}.{timestamp}.{body}`.
pub fn standard_signature(secret: &str, received: &receiver::Received) -> String {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let id = received.header("webhook-id");
    let timestamp = received.header("webhook-timestamp");
    let mac = hmac_sha256(
        &key,
        &[
            id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            &received.body,
        ],
    );
    format!("v1,{}", STANDARD.encode(mac))
}

/// The `X-Webhook-Signature` value (`sha256=<hex>`) that `secret` gives a
/// request: keyed by the whole secret string, over the body.
pub fn legacy_signature(secret: &str, received: &receiver::Received) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[&received.body]))
    )
}

/// The entries of a request's `webhook-signature` header.
pub fn signature_entries(received: &receiver::Received) -> Vec<String> {
    received
        .header("webhook-signature")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
