//! How a webhook signs, on the wire: its scheme, its public key, and the
//! secret a create or rotate answer may show.

use super::proto;
use crate::domain::{PublicKey, SignatureScheme, SigningSecret, Webhook};

/// A signature scheme the wire carried (unset: HMAC); `Err` with the number
/// when it is none.
pub(super) fn scheme_from_wire(value: i32) -> Result<SignatureScheme, i32> {
    match proto::SignatureScheme::try_from(value) {
        Ok(proto::SignatureScheme::Unspecified | proto::SignatureScheme::HmacSha256) => {
            Ok(SignatureScheme::HmacSha256)
        }
        Ok(proto::SignatureScheme::Ed25519) => Ok(SignatureScheme::Ed25519),
        Err(_) => Err(value),
    }
}

pub(super) fn scheme_to_wire(scheme: SignatureScheme) -> proto::SignatureScheme {
    match scheme {
        SignatureScheme::HmacSha256 => proto::SignatureScheme::HmacSha256,
        SignatureScheme::Ed25519 => proto::SignatureScheme::Ed25519,
    }
}

/// An ed25519 webhook's public key; empty for HMAC.
pub(super) fn public_key_to_wire(key: Option<&PublicKey>) -> String {
    key.map(|k| k.as_str().to_owned()).unwrap_or_default()
}

/// The secret a create or rotate answer shows: an HMAC secret, once; never
/// an ed25519 private key (its public key is shown instead).
pub(super) fn secret_to_wire(w: &Webhook, secret: &SigningSecret) -> String {
    match w.signature_scheme {
        SignatureScheme::HmacSha256 => secret.expose().to_owned(),
        SignatureScheme::Ed25519 => String::new(),
    }
}
