//! Checks a delivery's Standard Webhooks signature the way a receiver
//! should: `webhook-signature` holds one `v1,<base64>` (HMAC) or
//! `v1a,<base64>` (ed25519) entry per key the service signs with (several
//! during a rotation's grace), any of which may match any of the secrets or
//! public keys given (a receiver rotating too), over
//! `webhook-id.webhook-timestamp.body`; and the timestamp must be within
//! five minutes of now either way, so a captured delivery cannot be replayed
//! later.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far `webhook-timestamp` may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// What CreateWebhook and RotateWebhookSecret return to verify with: an
/// HMAC webhook's secret (`whsec_` and the standard base64 of the key), or
/// an ed25519 webhook's public key (`whpk_` and the standard base64 of its
/// 32 bytes).
#[derive(Clone)]
pub enum Secret {
    Hmac(Vec<u8>),
    Ed25519(VerifyingKey),
}

impl Secret {
    /// The key of `text`, or an error saying what a secret looks like.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let decoded = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|b64| STANDARD.decode(b64).ok())
                .filter(|key| !key.is_empty())
        };
        let key = if let Some(key) = decoded("whsec_") {
            Some(Self::Hmac(key))
        } else {
            decoded("whpk_")
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
                .map(Self::Ed25519)
        };
        key.ok_or_else(|| {
            "a secret is `whsec_` followed by standard base64, or an ed25519 public key \
             `whpk_` followed by the standard base64 of 32 bytes, as CreateWebhook returns it"
                .into()
        })
    }

    /// Whether `signature` (the base64 after `v1,` or `v1a,`) is this key's
    /// over `content`.
    fn signed(&self, scheme: &str, signature: &[u8], content: [&[u8]; 5]) -> bool {
        match (self, scheme) {
            (Self::Hmac(key), "v1") => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                content.iter().for_each(|part| mac.update(part));
                // Constant time: `verify_slice` compares without early exit.
                mac.verify_slice(signature).is_ok()
            }
            (Self::Ed25519(key), "v1a") => {
                let Ok(signature) = Signature::from_slice(signature) else {
                    return false;
                };
                // Strict: refuses the malleable and small-order forms.
                key.verify_strict(&content.concat(), &signature).is_ok()
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The headers a Standard Webhooks signature is checked with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Why a delivery does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// One of `webhook-id`, `webhook-timestamp`, `webhook-signature` is
    /// missing.
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a number of seconds.
    MalformedTimestamp,
    /// `webhook-signature` holds no `v1,` or `v1a,` entry.
    NoV1Signature,
    /// The timestamp is this many seconds from now (negative: in the past).
    StaleTimestamp { skew: i64 },
    /// No entry matches any secret or public key.
    Mismatch,
    /// There is no secret to check with yet (`--secret-file` is empty).
    NoSecret,
}

impl Failure {
    /// A stable name for scripts (the `reason` of `--json`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::MalformedTimestamp => "malformed_timestamp",
            Self::NoV1Signature => "no_v1_signature",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::Mismatch => "mismatch",
            Self::NoSecret => "no_secret",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader(name) => write!(f, "no {name} header"),
            Self::MalformedTimestamp => f.write_str("webhook-timestamp is not a number"),
            Self::NoV1Signature => f.write_str("webhook-signature holds no v1, or v1a, entry"),
            Self::StaleTimestamp { skew } => write!(
                f,
                "webhook-timestamp is {}s {} now (at most {TOLERANCE_SECONDS}s allowed)",
                skew.abs(),
                if *skew < 0 { "before" } else { "after" }
            ),
            Self::Mismatch => f.write_str("no v1 or v1a signature matches the key(s) given"),
            Self::NoSecret => f.write_str("no secret to check with yet: add one to --secret-file"),
        }
    }
}

/// Checks `headers` and `body` against `secrets` at `now` (Unix seconds).
pub fn verify(
    secrets: &[Secret],
    headers: Signed<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), Failure> {
    let id = headers.id.ok_or(Failure::MissingHeader("webhook-id"))?;
    let timestamp = headers
        .timestamp
        .ok_or(Failure::MissingHeader("webhook-timestamp"))?;
    let signature = headers
        .signature
        .ok_or(Failure::MissingHeader("webhook-signature"))?;
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Failure::MalformedTimestamp)?;
    let offered: Vec<(&str, Vec<u8>)> = signature
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(scheme, _)| matches!(*scheme, "v1" | "v1a"))
        .filter_map(|(scheme, b64)| Some((scheme, STANDARD.decode(b64).ok()?)))
        .collect();
    if offered.is_empty() {
        return Err(Failure::NoV1Signature);
    }
    if secrets.is_empty() {
        return Err(Failure::NoSecret);
    }
    // Signatures first: a mismatch says more than the clock does.
    let content = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    let matches = secrets.iter().any(|secret| {
        offered
            .iter()
            .any(|(scheme, candidate)| secret.signed(scheme, candidate, content))
    });
    if !matches {
        return Err(Failure::Mismatch);
    }
    let skew = seconds.saturating_sub(now);
    if skew.abs() > TOLERANCE_SECONDS {
        return Err(Failure::StaleTimestamp { skew });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::signature::{standard_signature, v1a_standard_signature};
    use crate::domain::{SignatureScheme, SigningSecret};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_dGhlIG90aGVyIHNlY3JldCBvZiAzMiBieXRlcyE=";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const AT: i64 = 1614265330;

    fn secrets(texts: &[&str]) -> Vec<Secret> {
        texts.iter().map(|t| Secret::parse(t).unwrap()).collect()
    }

    fn check(secrets: &[Secret], signature: &str, now: i64) -> Result<(), Failure> {
        let timestamp = AT.to_string();
        let headers = Signed {
            id: Some(ID),
            timestamp: Some(&timestamp),
            signature: Some(signature),
        };
        verify(secrets, headers, BODY, now)
    }

    #[test]
    fn the_standard_webhooks_reference_vector_verifies() {
        let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(check(&secrets(&[SECRET]), signature, AT), Ok(()));
    }

    #[test]
    fn what_the_delivery_side_signs_verifies() {
        let ours = standard_signature(OTHER, ID, AT, BODY).unwrap();
        assert_eq!(check(&secrets(&[OTHER]), &ours, AT + 10), Ok(()));
    }

    #[test]
    fn any_entry_may_match_any_secret_during_rotations() {
        let old = standard_signature(SECRET, ID, AT, BODY).unwrap();
        let new = standard_signature(OTHER, ID, AT, BODY).unwrap();
        let header = format!("v1a,xyz {new} {old}");
        assert_eq!(check(&secrets(&[SECRET]), &header, AT), Ok(()));
        assert_eq!(check(&secrets(&[OTHER]), &header, AT), Ok(()));
        let only_old = standard_signature(SECRET, ID, AT, BODY).unwrap();
        assert_eq!(check(&secrets(&[OTHER, SECRET]), &only_old, AT), Ok(()));
    }

    #[test]
    fn a_v1a_signature_verifies_with_the_public_key_alone() {
        let private = SigningSecret::generate_for(SignatureScheme::Ed25519);
        let public = private.public_key().unwrap();
        let ours = v1a_standard_signature(&private, ID, AT, BODY).unwrap();
        let public = secrets(&[public.as_str()]);
        assert_eq!(check(&public, &ours, AT), Ok(()));
        // Another key pair, or an HMAC secret, does not verify it.
        let other = SigningSecret::generate_for(SignatureScheme::Ed25519);
        let other = secrets(&[other.public_key().unwrap().as_str()]);
        assert_eq!(check(&other, &ours, AT), Err(Failure::Mismatch));
        assert_eq!(
            check(&secrets(&[SECRET]), &ours, AT),
            Err(Failure::Mismatch)
        );
        // Nor does the key verify a v1 entry, or a v1a one over another body.
        let v1 = standard_signature(SECRET, ID, AT, BODY).unwrap();
        assert_eq!(check(&public, &v1, AT), Err(Failure::Mismatch));
        let elsewhere = v1a_standard_signature(&private, ID, AT, b"{}").unwrap();
        assert_eq!(check(&public, &elsewhere, AT), Err(Failure::Mismatch));
    }

    #[test]
    fn a_public_key_must_be_32_bytes() {
        let short = format!("whpk_{}", STANDARD.encode([1u8; 31]));
        assert!(Secret::parse(&short).is_err());
        assert!(Secret::parse("whpk_").is_err());
    }

    #[test]
    fn another_secret_is_a_mismatch() {
        let ours = standard_signature(SECRET, ID, AT, BODY).unwrap();
        assert_eq!(check(&secrets(&[OTHER]), &ours, AT), Err(Failure::Mismatch));
    }

    #[test]
    fn with_no_secret_yet_nothing_verifies_and_it_says_so() {
        let ours = standard_signature(SECRET, ID, AT, BODY).unwrap();
        assert_eq!(check(&[], &ours, AT), Err(Failure::NoSecret));
    }

    #[test]
    fn a_timestamp_more_than_five_minutes_away_is_stale_either_way() {
        let ours = standard_signature(SECRET, ID, AT, BODY).unwrap();
        let s = secrets(&[SECRET]);
        assert_eq!(check(&s, &ours, AT + TOLERANCE_SECONDS), Ok(()));
        assert_eq!(
            check(&s, &ours, AT + TOLERANCE_SECONDS + 1),
            Err(Failure::StaleTimestamp { skew: -301 })
        );
        assert_eq!(
            check(&s, &ours, AT - TOLERANCE_SECONDS - 1),
            Err(Failure::StaleTimestamp { skew: 301 })
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let s = secrets(&[SECRET]);
        let none = Signed::default();
        assert_eq!(
            verify(&s, none, BODY, AT),
            Err(Failure::MissingHeader("webhook-id"))
        );
        let no_signature = Signed {
            id: Some(ID),
            timestamp: Some("1614265330"),
            signature: None,
        };
        let error = verify(&s, no_signature, BODY, AT).unwrap_err();
        assert_eq!(error.to_string(), "no webhook-signature header");
        let bad_time = Signed {
            timestamp: Some("yesterday"),
            signature: Some("v1,AAAA"),
            ..no_signature
        };
        assert_eq!(
            verify(&s, bad_time, BODY, AT),
            Err(Failure::MalformedTimestamp)
        );
        assert_eq!(check(&s, "v2,abc", AT), Err(Failure::NoV1Signature));
    }

    #[test]
    fn a_secret_is_whsec_and_base64() {
        assert!(Secret::parse(SECRET).is_ok());
        for wrong in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_not base64!",
        ] {
            assert!(Secret::parse(wrong).is_err(), "{wrong}");
        }
    }
}
