//! A JWK set as the verifier uses it: the keys that can check signatures,
//! each with the algorithms it accepts, and the choice of key for a token.

use std::sync::Arc;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse, RSAKeyParameters,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::auth::verifier::TokenRules;

/// The smallest RSA modulus trusted, in bytes (2,048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One key of the set that can verify tokens.
pub(crate) struct VerificationKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
    /// The token rules, with this key's algorithms.
    pub(crate) validation: Validation,
}

/// The usable keys of one fetched set.
pub(crate) struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
    /// Counts the sets installed so far: a verifier that waited for a fetch
    /// tells by it whether a newer set arrived meanwhile.
    pub(crate) generation: u64,
}

/// Which key checks a token.
pub(crate) enum Selection<'a> {
    Found(&'a Arc<VerificationKey>),
    /// No key has the token's `kid`: the set may be out of date.
    UnknownKid,
    /// No key of this set will do, and a newer set would not change that.
    Refused(&'static str),
}

/// Why a fetched document is not a usable key set.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("the response is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the response is not a JWK set (`{{\"keys\": [...]}}`): {0}")]
    NotAKeySet(#[source] serde_json::Error),
    #[error("the set holds no usable signing key ({0})")]
    NoUsableKey(String),
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// The usable keys of a JWK set document; other keys are skipped (and
    /// said at debug level), a set without any usable key is an error.
    pub(crate) fn parse(
        document: &[u8],
        rules: &TokenRules,
        generation: u64,
    ) -> Result<Self, KeySetError> {
        let document: Document = serde_json::from_slice(document).map_err(|e| {
            if e.is_data() {
                KeySetError::NotAKeySet(e)
            } else {
                KeySetError::NotJson(e)
            }
        })?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, value) in document.keys.into_iter().enumerate() {
            match usable(value, rules) {
                Ok(key) => keys.push(Arc::new(key)),
                Err((kid, why)) => {
                    tracing::debug!(index, kid, why, "JWKS key skipped");
                    skipped.push(format!("{}: {why}", kid.unwrap_or(format!("#{index}"))));
                }
            }
        }
        if keys.is_empty() {
            let why = if skipped.is_empty() {
                "it is empty".to_owned()
            } else {
                format!("skipped {}", skipped.join("; "))
            };
            return Err(KeySetError::NoUsableKey(why));
        }
        Ok(Self { keys, generation })
    }

    /// The `kid`s of the usable keys, for the log.
    pub(crate) fn kids(&self) -> Vec<&str> {
        self.keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("(none)"))
            .collect()
    }

    /// The key for a token with this header. A token without `kid` is
    /// checked only against a set of exactly one key: with more, trying each
    /// would multiply the work an anonymous caller can cause.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        let Some(kid) = kid else {
            return match self.keys.as_slice() {
                [only] if only.algorithms.contains(&alg) => Selection::Found(only),
                [_] => Selection::Refused("the key does not accept the token's alg"),
                _ => Selection::Refused("no kid, and the key set holds several keys"),
            };
        };
        let mut named = self
            .keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .peekable();
        if named.peek().is_none() {
            return Selection::UnknownKid;
        }
        named.find(|k| k.algorithms.contains(&alg)).map_or(
            Selection::Refused("the key named by kid does not accept the token's alg"),
            Selection::Found,
        )
    }
}

/// A key that can verify, or its `kid` and why it cannot.
fn usable(
    value: serde_json::Value,
    rules: &TokenRules,
) -> Result<VerificationKey, (Option<String>, &'static str)> {
    let kid = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
    let fail = |why| (kid.clone(), why);
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| fail("not a JWK"))?;
    let algorithms = algorithms(&jwk).map_err(fail)?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| fail("its key material is malformed"))?;
    Ok(VerificationKey {
        validation: rules.validation(&algorithms),
        kid,
        algorithms,
        key,
    })
}

/// The algorithms a JWK may verify: those of its key type, narrowed to its
/// `alg` when it names one. Never `none` nor HMAC.
fn algorithms(jwk: &Jwk) -> Result<Vec<Algorithm>, &'static str> {
    use Algorithm::*;
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err("its use is not sig");
    }
    if let Some(operations) = &jwk.common.key_operations
        && !operations.contains(&KeyOperations::Verify)
    {
        return Err("its key_ops lack verify");
    }
    let by_type: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            check_rsa(rsa)?;
            &[RS256, RS384, RS512, PS256, PS384, PS512]
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[ES256],
            EllipticCurve::P384 => &[ES384],
            _ => return Err("its curve is not supported"),
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => &[EdDSA],
        AlgorithmParameters::OctetKey(_) => return Err("a symmetric key is never trusted"),
        _ => return Err("its key type is not supported"),
    };
    match jwk.common.key_algorithm {
        None => Ok(by_type.to_vec()),
        Some(named) => match Algorithm::try_from(named) {
            Ok(alg) if by_type.contains(&alg) => Ok(vec![alg]),
            _ => Err("its alg does not fit its key type"),
        },
    }
}

fn check_rsa(rsa: &RSAKeyParameters) -> Result<(), &'static str> {
    use base64::Engine;
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(rsa.n.trim_end_matches('='))
        .map_err(|_| "its modulus is not base64url")?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant < MIN_RSA_MODULUS_BYTES {
        return Err("its RSA modulus is under 2048 bits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // Public halves of throwaway keys: P-256, Ed25519, and an RSA modulus of
    // 2048 bits (any bytes do for choosing keys; no signature is checked here).
    fn p256(kid: &str) -> serde_json::Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid,
               "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
               "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }

    fn ed25519(kid: &str) -> serde_json::Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
               "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    }

    fn rsa(kid: &str, bits: usize) -> serde_json::Value {
        use base64::Engine;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0xc5; bits / 8]);
        json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB"})
    }

    fn set(keys: Vec<serde_json::Value>) -> Result<KeySet, KeySetError> {
        let document = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
        KeySet::parse(&document, &TokenRules::default(), 1)
    }

    fn accepts(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> bool {
        matches!(set.select(kid, alg), Selection::Found(_))
    }

    #[test]
    fn each_key_type_accepts_the_algorithms_of_its_type() {
        let mut p384 = p256("p384");
        p384["crv"] = json!("P-384");
        p384["x"] = json!("a".repeat(64));
        p384["y"] = json!("b".repeat(64));
        let set = set(vec![p256("ec"), ed25519("ed"), rsa("rsa", 2048), p384]).unwrap();
        assert!(accepts(&set, Some("ec"), Algorithm::ES256));
        assert!(!accepts(&set, Some("ec"), Algorithm::ES384));
        assert!(accepts(&set, Some("p384"), Algorithm::ES384));
        assert!(!accepts(&set, Some("p384"), Algorithm::ES256));
        assert!(accepts(&set, Some("ed"), Algorithm::EdDSA));
        for alg in [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ] {
            assert!(accepts(&set, Some("rsa"), alg), "{alg:?}");
        }
        assert!(!accepts(&set, Some("rsa"), Algorithm::HS256));
        assert!(!accepts(&set, Some("rsa"), Algorithm::ES256));
    }

    #[test]
    fn a_jwk_alg_narrows_its_key_to_that_algorithm() {
        let mut key = rsa("rsa", 2048);
        key["alg"] = json!("RS256");
        let set = set(vec![key]).unwrap();
        assert!(accepts(&set, Some("rsa"), Algorithm::RS256));
        assert!(matches!(
            set.select(Some("rsa"), Algorithm::PS256),
            Selection::Refused(_)
        ));
    }

    #[test]
    fn keys_not_for_signatures_or_of_other_kinds_are_skipped() {
        let mut encryption = p256("enc");
        encryption["use"] = json!("enc");
        let mut wrapping = p256("wrap");
        wrapping["key_ops"] = json!(["wrapKey"]);
        let mut misnamed = p256("misnamed");
        misnamed["alg"] = json!("RS256");
        let mut oaep = rsa("oaep", 2048);
        oaep["alg"] = json!("RSA-OAEP");
        let hmac = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
        let unknown = json!({"kty": "XYZ", "kid": "xyz"});
        let mut secp256k1 = p256("k1");
        secp256k1["crv"] = json!("secp256k1");
        let set = set(vec![
            encryption,
            wrapping,
            misnamed,
            oaep,
            hmac,
            unknown,
            secp256k1,
            rsa("small", 1024),
            p256("good"),
        ])
        .unwrap();
        assert_eq!(set.kids(), ["good"]);
        assert!(matches!(
            set.select(Some("hmac"), Algorithm::HS256),
            Selection::UnknownKid
        ));
    }

    #[test]
    fn a_token_without_kid_is_checked_only_against_a_single_key() {
        let one = set(vec![ed25519("only")]).unwrap();
        assert!(accepts(&one, None, Algorithm::EdDSA));
        assert!(!accepts(&one, None, Algorithm::ES256));
        let two = set(vec![ed25519("a"), p256("b")]).unwrap();
        assert!(matches!(
            two.select(None, Algorithm::EdDSA),
            Selection::Refused(_)
        ));
    }

    #[test]
    fn an_unknown_kid_is_told_apart_from_a_refusal() {
        let set = set(vec![p256("a")]).unwrap();
        assert!(matches!(
            set.select(Some("b"), Algorithm::ES256),
            Selection::UnknownKid
        ));
        assert!(matches!(
            set.select(Some("a"), Algorithm::EdDSA),
            Selection::Refused(_)
        ));
    }

    #[test]
    fn a_document_that_is_not_a_usable_set_says_why() {
        let parse = |body: &[u8]| {
            KeySet::parse(body, &TokenRules::default(), 1)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(parse(b"<html>").starts_with("the response is not JSON"));
        assert!(parse(br#"{"issuer": "x"}"#).starts_with("the response is not a JWK set"));
        assert_eq!(
            parse(br#"{"keys": []}"#),
            "the set holds no usable signing key (it is empty)"
        );
        let hmac = br#"{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}"#;
        assert_eq!(
            parse(hmac),
            "the set holds no usable signing key (skipped h: a symmetric key is never trusted)"
        );
    }
}
