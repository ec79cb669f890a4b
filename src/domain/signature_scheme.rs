//! How a webhook's deliveries are signed: with a shared secret (HMAC), or
//! with an ed25519 key pair whose public half receivers verify with
//! (Standard Webhooks `v1a`). Chosen at creation, never changed: a receiver
//! set up for one scheme cannot verify the other.

/// How a webhook's deliveries are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignatureScheme {
    /// `whsec_` secrets: `v1` and `X-Webhook-Signature` (the default).
    #[default]
    HmacSha256,
    /// `whsk_` private keys: `v1a`, verified with the `whpk_` public key.
    Ed25519,
}

impl SignatureScheme {
    /// The text the `webhooks.signature_scheme` column holds.
    pub fn as_stored(self) -> &'static str {
        match self {
            SignatureScheme::HmacSha256 => "hmac-sha256",
            SignatureScheme::Ed25519 => "ed25519",
        }
    }

    /// Reads the column back.
    pub fn from_stored(text: &str) -> Result<Self, String> {
        match text {
            "hmac-sha256" => Ok(SignatureScheme::HmacSha256),
            "ed25519" => Ok(SignatureScheme::Ed25519),
            other => Err(format!("unknown signature scheme {other:?}")),
        }
    }
}

/// Why a `signature_scheme` value the wire carried is refused.
pub fn unknown_scheme(value: i32) -> String {
    format!(
        "{value} is not a signature scheme: SIGNATURE_SCHEME_UNSPECIFIED (0), \
         SIGNATURE_SCHEME_HMAC_SHA256 (1) or SIGNATURE_SCHEME_ED25519 (2)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_text_reads_back() {
        for scheme in [SignatureScheme::HmacSha256, SignatureScheme::Ed25519] {
            assert_eq!(SignatureScheme::from_stored(scheme.as_stored()), Ok(scheme));
        }
        assert!(SignatureScheme::from_stored("rsa").is_err());
    }
}
