//! Checks a token's signature and rules with the configured keys, and reads
//! the caller from its claims.

use std::sync::Arc;

use anyhow::Context;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::jwks::{Jwks, JwksStats};
use super::verified::Verified;
use super::{AuthError, ClaimNames};
use crate::domain::Caller;

/// Seconds of leeway on `exp` and `nbf`.
const LEEWAY: u64 = 30;

/// What every token must satisfy, whatever its key: `exp` and `sub`
/// present, `exp` and `nbf` checked with 30 s of leeway, and `iss` and `aud`
/// when configured.
#[derive(Debug, Clone, Default)]
pub struct TokenRules {
    /// When set, a token's `iss` must equal it.
    pub issuer: Option<String>,
    /// When set, a token's `aud` must contain it.
    pub audience: Option<String>,
}

impl TokenRules {
    /// These rules for tokens signed with one of `algorithms`.
    pub(crate) fn validation(&self, algorithms: &[Algorithm]) -> Validation {
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.to_vec();
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY;
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        validation
    }
}

/// Where the keys come from.
enum Keys {
    /// One key and the one algorithm it is for (`JWT_SECRET`,
    /// `JWT_PUBLIC_KEY_FILE`).
    Fixed {
        key: DecodingKey,
        validation: Box<Validation>,
    },
    /// An identity provider's published set (`JWT_JWKS_URL`).
    Published(Arc<Jwks>),
}

/// Checks tokens and turns them into callers.
pub struct JwtVerifier {
    keys: Keys,
    claims: ClaimNames,
    /// The tokens that passed lately, so that one sent again is not
    /// checked anew on every call.
    verified: Verified,
}

impl JwtVerifier {
    /// Verifies HS256 tokens signed with a shared secret.
    pub fn hs256(secret: &[u8], rules: &TokenRules, claims: ClaimNames) -> Self {
        Self::fixed(
            DecodingKey::from_secret(secret),
            Algorithm::HS256,
            rules,
            claims,
        )
    }

    /// Verifies RS256 or ES256 tokens with a PEM public key; the key's type
    /// decides which, and nothing else is accepted.
    pub fn from_public_key_pem(
        pem: &[u8],
        rules: &TokenRules,
        claims: ClaimNames,
    ) -> anyhow::Result<Self> {
        let (key, alg) = match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => (key, Algorithm::RS256),
            Err(_) => (
                DecodingKey::from_ec_pem(pem).context("not a PEM RSA or EC (P-256) public key")?,
                Algorithm::ES256,
            ),
        };
        Ok(Self::fixed(key, alg, rules, claims))
    }

    /// Verifies tokens with the keys an identity provider publishes.
    pub fn from_jwks(jwks: Arc<Jwks>, claims: ClaimNames) -> Self {
        Self {
            keys: Keys::Published(jwks),
            claims,
            verified: Verified::default(),
        }
    }

    fn fixed(key: DecodingKey, alg: Algorithm, rules: &TokenRules, claims: ClaimNames) -> Self {
        Self {
            keys: Keys::Fixed {
                key,
                validation: Box::new(rules.validation(&[alg])),
            },
            claims,
            verified: Verified::default(),
        }
    }

    /// The published key set, when tokens are checked against one: to keep
    /// it fresh, and for its counters.
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        match &self.keys {
            Keys::Published(jwks) => Some(jwks),
            Keys::Fixed { .. } => None,
        }
    }

    /// The key set's counters, when tokens are checked against one.
    pub fn jwks_stats(&self) -> Option<Arc<JwksStats>> {
        self.jwks().map(|jwks| jwks.stats())
    }

    /// The caller of `token` when it passed lately and still holds (see
    /// `verified`): nothing of it decoded.
    pub fn cached(&self, token: &str) -> Option<Caller> {
        let now = jsonwebtoken::get_current_timestamp();
        self.verified.get(token, self.keys_in_use(), now)
    }

    /// Which keys check tokens now: a published set's number changes with
    /// every set fetched.
    fn keys_in_use(&self) -> u64 {
        match &self.keys {
            Keys::Fixed { .. } => 0,
            Keys::Published(jwks) => jwks.generation(),
        }
    }

    /// The caller a valid token describes, checked in full (ask
    /// [`JwtVerifier::cached`] first) and kept for the next calls. Waits only
    /// when the token names a key the cached set lacks and the set may be
    /// fetched again.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        // Read before the check: a key set fetched meanwhile forgets what
        // this check keeps.
        let keys = self.keys_in_use();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = match &self.keys {
            Keys::Fixed { key, validation } => decode(token, key, validation)?,
            Keys::Published(jwks) => {
                let header = jsonwebtoken::decode_header(token).map_err(rejected)?;
                let key = jwks.key_for(header.kid.as_deref(), header.alg).await?;
                decode(token, &key.key, &key.validation)?
            }
        };
        let caller = self.claims.caller(&claims)?;
        self.verified.put(token, &caller, LEEWAY, keys, now);
        Ok(caller)
    }
}

fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Map<String, Value>, AuthError> {
    jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
        .map(|data| data.claims)
        .map_err(rejected)
}

fn rejected(err: jsonwebtoken::errors::Error) -> AuthError {
    match err.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        other => AuthError::Invalid(format!("{other:?}")),
    }
}
