//! Development tokens: HS256, signed with `JWT_SECRET`, under the default
//! claim names.

use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::domain::OrganizationId;

/// What a development token says.
pub struct TokenRequest<'a> {
    pub subject: &'a str,
    /// The organization and role of a person's token.
    pub membership: Option<(OrganizationId, &'a str)>,
    /// Space-separated scopes of a service's token.
    pub scope: Option<&'a str>,
    pub ttl: Duration,
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
}

/// Signs an HS256 token, for development and the walk-throughs.
pub fn issue_hs256(secret: &[u8], request: &TokenRequest<'_>) -> anyhow::Result<String> {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = serde_json::json!({
        "sub": request.subject,
        "iat": now,
        "exp": now + request.ttl.as_secs(),
    });
    if let Some((organization_id, role)) = request.membership {
        claims["org_id"] = organization_id.to_string().into();
        claims["role"] = role.into();
    }
    if let Some(scope) = request.scope {
        claims["scope"] = scope.into();
    }
    if let Some(issuer) = request.issuer {
        claims["iss"] = issuer.into();
    }
    if let Some(audience) = request.audience {
        claims["aud"] = audience.into();
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .context("cannot sign the token")
}
