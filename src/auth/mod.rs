//! Bearer-token authentication: verifies the JWT on every call of a protected
//! service and puts the typed [`Caller`] into the request's extensions.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use tonic::{Request, Status};

use crate::domain::{Caller, Membership, OrganizationId, Role};

/// The claims we read from a token; `exp`, `nbf`, `iss` and `aud` are
/// checked by `jsonwebtoken` itself.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    org_id: Option<String>,
    role: Option<String>,
    /// Space-separated, OAuth style.
    scope: Option<String>,
}

/// Why a token was refused. Only [`AuthError::client_message`] reaches the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no authorization metadata")]
    Missing,
    #[error("authorization metadata is not `Bearer <token>`")]
    Malformed,
    #[error("token expired")]
    Expired,
    #[error("token rejected: {0}")]
    Invalid(String),
}

impl AuthError {
    /// A short reason that tells a legitimate client what to fix and an
    /// attacker nothing about keys or claims.
    pub fn client_message(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing bearer token",
            AuthError::Malformed => "authorization must be `Bearer <token>`",
            AuthError::Expired => "token expired",
            AuthError::Invalid(_) => "invalid token",
        }
    }
}

/// Checks tokens against one key and one algorithm family.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    /// Verifies HS256 tokens signed with a shared secret.
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Self {
        Self::new(
            DecodingKey::from_secret(secret),
            Algorithm::HS256,
            issuer,
            audience,
        )
    }

    /// Verifies RS256 or ES256 tokens with a PEM public key; the key's type
    /// decides which, and nothing else is accepted.
    pub fn from_public_key_pem(
        pem: &[u8],
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (key, alg) = match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => (key, Algorithm::RS256),
            Err(_) => (
                DecodingKey::from_ec_pem(pem).context("not a PEM RSA or EC (P-256) public key")?,
                Algorithm::ES256,
            ),
        };
        Ok(Self::new(key, alg, issuer, audience))
    }

    fn new(key: DecodingKey, alg: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        Self { key, validation }
    }

    /// The caller a valid token describes.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                other => AuthError::Invalid(format!("{other:?}")),
            },
        )?;
        let claims = data.claims;
        if claims.sub.is_empty() {
            return Err(AuthError::Invalid("empty sub".into()));
        }
        // `sub` is logged and stored (as the creator of a webhook).
        if claims.sub.chars().any(char::is_control) {
            return Err(AuthError::Invalid("control characters in sub".into()));
        }
        let membership = match (&claims.org_id, &claims.role) {
            (None, None) => None,
            (Some(org), Some(role)) => Some(Membership {
                organization_id: OrganizationId::parse(org)
                    .map_err(|_| AuthError::Invalid("org_id is not a UUID".into()))?,
                role: role
                    .parse::<Role>()
                    .map_err(|_| AuthError::Invalid("unknown role".into()))?,
            }),
            _ => return Err(AuthError::Invalid("org_id and role come together".into())),
        };
        let scopes = claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Ok(Caller {
            subject: claims.sub,
            membership,
            scopes,
        })
    }

    fn authenticate<T>(&self, request: &Request<T>) -> Result<Caller, AuthError> {
        let value = request
            .metadata()
            .get("authorization")
            .ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Malformed);
        }
        self.verify(token.trim())
    }
}

/// The tonic interceptor in front of every protected service.
#[derive(Clone)]
pub struct Authenticator(Arc<JwtVerifier>);

impl Authenticator {
    pub fn new(verifier: JwtVerifier) -> Self {
        Self(Arc::new(verifier))
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self.0.authenticate(&request) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(err) => {
                tracing::info!(reason = %err, "request not authenticated");
                Err(Status::unauthenticated(err.client_message()))
            }
        }
    }
}

/// The caller the interceptor put on `request`.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

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

/// Signs an HS256 token, for development and the README walk-through.
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
