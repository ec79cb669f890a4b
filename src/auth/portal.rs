//! Portal tokens: what a portal link carries. The service issues them for
//! one organization and checks them itself, with its own HMAC key (never
//! the identity provider's): HS256, header `typ: portal+jwt`, `iss`
//! `webhook-service`, `aud` `webhook-console`, the organization always in
//! `org_id` (the console reads it and `exp` from the payload).

use anyhow::Context;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::domain::{Caller, Credential, Membership, OrganizationId, Role};

/// The header `typ` that marks a portal token.
pub const TOKEN_TYPE: &str = "portal+jwt";
/// Who issues portal tokens.
pub const ISSUER: &str = "webhook-service";
/// Who they are for.
pub const AUDIENCE: &str = "webhook-console";
/// The shortest key accepted: HS256's own output size.
pub const MIN_KEY_BYTES: usize = 32;

/// The HMAC key portal tokens are signed with.
pub struct PortalKey(SecretSlice<u8>);

/// A portal key shorter than [`MIN_KEY_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("a portal key must be at least {MIN_KEY_BYTES} bytes; this one has {0}")]
pub struct KeyTooShort(pub usize);

impl PortalKey {
    pub fn new(bytes: Vec<u8>) -> Result<Self, KeyTooShort> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyTooShort(bytes.len()));
        }
        Ok(Self(SecretSlice::from(bytes)))
    }
}

impl std::fmt::Debug for PortalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortalKey([REDACTED])")
    }
}

/// What a portal token says.
#[derive(Debug, Serialize, Deserialize)]
struct PortalClaims {
    iss: String,
    aud: String,
    sub: String,
    org_id: String,
    iat: u64,
    exp: u64,
    jti: String,
}

/// Issues and checks portal tokens.
pub struct PortalTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for PortalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortalTokens")
    }
}

/// A signed portal token and when it expires.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl PortalTokens {
    pub fn new(key: &PortalKey) -> Self {
        let secret = key.0.expose_secret();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // No leeway: the service checks what it signed itself, on the clock
        // that set `exp`, so a link works exactly until the `expires_at` it
        // was answered with. Accepted while now < exp (jsonwebtoken counts
        // whole seconds and would otherwise accept the whole second of exp).
        validation.leeway = 0;
        validation.reject_tokens_expiring_in_less_than = 1;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token that lets the console act for `subject` as an admin of
    /// `organization` until `expires_at` (whole seconds; a fraction is
    /// dropped).
    pub fn issue(
        &self,
        subject: &str,
        organization: OrganizationId,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<Issued> {
        let now = jsonwebtoken::get_current_timestamp();
        let exp =
            u64::try_from(expires_at.timestamp()).context("a portal token's expiry before 1970")?;
        let claims = PortalClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: subject.into(),
            org_id: organization.to_string(),
            iat: now,
            exp,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.into());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .context("cannot sign a portal token")?;
        let expires_at = i64::try_from(exp)
            .ok()
            .and_then(|exp| DateTime::from_timestamp(exp, 0))
            .context("a portal token's expiry out of range")?;
        Ok(Issued { token, expires_at })
    }

    /// The caller a valid portal token describes: an admin of its
    /// organization, known to hold a portal link.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<PortalClaims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                other => AuthError::Invalid(format!("portal token: {other:?}")),
            })?;
        if !is_portal_type(data.header.typ.as_deref()) {
            return Err(AuthError::Invalid("portal token: wrong typ".into()));
        }
        let claims = data.claims;
        if claims.sub.is_empty() || claims.sub.chars().any(char::is_control) {
            return Err(AuthError::Invalid("portal token: bad sub".into()));
        }
        let organization_id = OrganizationId::parse(&claims.org_id)
            .map_err(|_| AuthError::Invalid("portal token: org_id is not a UUID".into()))?;
        let expires_at = i64::try_from(claims.exp)
            .ok()
            .and_then(|exp| DateTime::from_timestamp(exp, 0))
            .ok_or_else(|| AuthError::Invalid("portal token: exp out of range".into()))?;
        Ok(Caller {
            subject: claims.sub,
            membership: Some(Membership {
                organization_id,
                role: Role::Admin,
            }),
            scopes: Vec::new(),
            credential: Credential::PortalLink,
            expires_at,
        })
    }
}

/// True when `token`'s header says it is a portal token; such a token is
/// checked only with the portal key.
pub fn is_portal_token(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok_and(|header| is_portal_type(header.typ.as_deref()))
}

fn is_portal_type(typ: Option<&str>) -> bool {
    typ.is_some_and(|typ| typ.eq_ignore_ascii_case(TOKEN_TYPE))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn tokens(byte: u8) -> PortalTokens {
        PortalTokens::new(&PortalKey::new(vec![byte; 32]).unwrap())
    }

    fn org() -> OrganizationId {
        OrganizationId::from_uuid(uuid::Uuid::new_v4())
    }

    /// `seconds` from now, in whole seconds.
    fn in_seconds(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(Utc::now().timestamp() + seconds, 0).unwrap()
    }

    fn payload(token: &str) -> Value {
        use base64::Engine;
        let part = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn signed(header_typ: Option<&str>, claims: &Value, key: u8) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = header_typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&[key; 32])).unwrap()
    }

    #[test]
    fn keys_shorter_than_32_bytes_are_refused() {
        assert!(PortalKey::new(vec![7; 31]).is_err());
        assert!(PortalKey::new(vec![7; 32]).is_ok());
        assert!(!format!("{:?}", PortalKey::new(vec![7; 40]).unwrap()).contains('7'));
    }

    #[test]
    fn an_issued_token_is_an_admin_of_its_organization_holding_a_portal_link() {
        let org = org();
        let until = in_seconds(600);
        let issued = tokens(1).issue("alice", org, until).unwrap();
        assert!(is_portal_token(&issued.token));
        let claims = payload(&issued.token);
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["org_id"], org.to_string());
        assert_eq!(claims["sub"], "alice");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            600
        );
        assert_eq!(claims["exp"].as_i64().unwrap(), until.timestamp());
        assert_eq!(issued.expires_at, until);
        assert!(!claims["jti"].as_str().unwrap().is_empty());
        let caller = tokens(1).verify(&issued.token).unwrap();
        assert_eq!(caller.credential, Credential::PortalLink);
        assert_eq!(caller.subject, "alice");
        assert!(caller.scopes.is_empty());
        assert_eq!(caller.expires_at, until);
        assert_eq!(
            caller.membership,
            Some(Membership {
                organization_id: org,
                role: Role::Admin
            })
        );
    }

    #[test]
    fn another_key_expiry_or_missing_claims_are_refused() {
        let org = org();
        let issued = tokens(1).issue("a", org, in_seconds(60)).unwrap();
        assert!(tokens(2).verify(&issued.token).is_err());
        let now = jsonwebtoken::get_current_timestamp();
        let good = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "a", "org_id": org.to_string(),
            "iat": now, "exp": now + 60, "jti": "j",
        });
        assert!(
            tokens(1)
                .verify(&signed(Some(TOKEN_TYPE), &good, 1))
                .is_ok()
        );
        // Without leeway: refused from the second `exp` names on, so that
        // a link ends at the `expires_at` it was answered with.
        for ago in [0, 1, 31] {
            let mut expired = good.clone();
            expired["exp"] = (now - ago).into();
            assert!(
                matches!(
                    tokens(1).verify(&signed(Some(TOKEN_TYPE), &expired, 1)),
                    Err(AuthError::Expired)
                ),
                "expired {ago} s ago"
            );
        }
        let mut last_seconds = good.clone();
        last_seconds["exp"] = (now + 2).into();
        assert!(
            tokens(1)
                .verify(&signed(Some(TOKEN_TYPE), &last_seconds, 1))
                .is_ok()
        );
        for claim in ["iss", "aud", "sub", "org_id", "exp"] {
            let mut missing = good.clone();
            missing.as_object_mut().unwrap().remove(claim);
            let token = signed(Some(TOKEN_TYPE), &missing, 1);
            assert!(tokens(1).verify(&token).is_err(), "without {claim}");
        }
        for (claim, value) in [
            ("iss", "someone"),
            ("aud", "webhook-service"),
            ("org_id", "acme"),
            ("sub", ""),
        ] {
            let mut wrong = good.clone();
            wrong[claim] = value.into();
            let token = signed(Some(TOKEN_TYPE), &wrong, 1);
            assert!(tokens(1).verify(&token).is_err(), "{claim}: {value}");
        }
        // The identity provider's kind of token, signed with the portal key.
        assert!(tokens(1).verify(&signed(None, &good, 1)).is_err());
        assert!(!is_portal_token(&signed(Some("JWT"), &good, 1)));
        assert!(!is_portal_token("not a token"));
    }
}
