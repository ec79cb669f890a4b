//! Checks a delivery's Standard Webhooks signature the way a receiver
//! should: `webhook-signature` holds one `v1,<base64>` entry per secret the
//! service signs with (several during a rotation's grace), any of which may
//! match any of the secrets given (a receiver rotating too), over
//! `webhook-id.webhook-timestamp.body`; and the timestamp must be within
//! five minutes of now either way, so a captured delivery cannot be replayed
//! later.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far `webhook-timestamp` may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A secret as CreateWebhook and RotateWebhookSecret return it: `whsec_`
/// and the standard base64 of the key.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The key of `text`, or an error saying what a secret looks like.
    pub fn parse(text: &str) -> Result<Self, String> {
        let key = text
            .trim()
            .strip_prefix("whsec_")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|key| !key.is_empty());
        key.map(Self).ok_or_else(|| {
            "a secret is `whsec_` followed by standard base64, as CreateWebhook returns it".into()
        })
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
    /// `webhook-signature` holds no `v1,` entry.
    NoV1Signature,
    /// The timestamp is this many seconds from now (negative: in the past).
    StaleTimestamp { skew: i64 },
    /// No entry matches any secret.
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
            Self::NoV1Signature => f.write_str("webhook-signature holds no v1, entry"),
            Self::StaleTimestamp { skew } => write!(
                f,
                "webhook-timestamp is {}s {} now (at most {TOLERANCE_SECONDS}s allowed)",
                skew.abs(),
                if *skew < 0 { "before" } else { "after" }
            ),
            Self::Mismatch => f.write_str("no v1 signature matches the secret(s) given"),
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
    let offered: Vec<Vec<u8>> = signature
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    if offered.is_empty() {
        return Err(Failure::NoV1Signature);
    }
    if secrets.is_empty() {
        return Err(Failure::NoSecret);
    }
    // Signatures first: a mismatch says more than the clock does.
    let matches = secrets.iter().any(|secret| {
        offered.iter().any(|candidate| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes any key");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            // Constant time: `verify_slice` compares without early exit.
            mac.verify_slice(candidate).is_ok()
        })
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
    use crate::delivery::signature::standard_signature;

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
