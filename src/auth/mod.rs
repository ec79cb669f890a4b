//! Bearer-token authentication: verifies the JWT of every call to a
//! protected service and puts the typed [`Caller`] into the request's
//! extensions.
//!
//! - [`verifier`]: signature and rules, with a fixed key or a published set;
//! - `verified`: the tokens that passed lately, not checked again per call;
//! - [`jwks`]: an identity provider's key set, cached and kept fresh;
//! - [`claims`]: where the organization, role and scopes sit in a token;
//! - [`authenticator`]: the caller of a request, from its headers;
//! - [`layer`]: the tower service in front of the gRPC services;
//! - [`portal`]: portal tokens, that the service issues and checks itself;
//! - [`quota`]: how many calls of one organization run at once;
//! - [`token`]: development tokens.

pub mod authenticator;
pub mod claims;
pub mod jwks;
pub mod layer;
pub mod portal;
pub mod quota;
pub mod token;
mod verified;
pub mod verifier;

use tonic::{Request, Status};

use crate::domain::Caller;

pub use authenticator::{Authenticator, Face};
pub use claims::{ClaimNames, ClaimPath, ClaimPathError};
pub use jwks::{Jwks, JwksStats, JwksUrl};
pub use layer::{Authenticated, RestCall};
pub use portal::{PortalKey, PortalTokens};
pub use quota::CallQuota;
pub use token::{TokenRequest, issue_hs256};
pub use verifier::{JwtVerifier, TokenRules};

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
    #[error("a portal token outside the REST face")]
    OutsideConsole,
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
            AuthError::OutsideConsole => "portal links are valid only in the console",
        }
    }
}

/// The token of `authorization: Bearer <token>`.
pub fn bearer(headers: &tonic::codegen::http::HeaderMap) -> Result<&str, AuthError> {
    let value = headers.get("authorization").ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

/// The caller [`Authenticated`] put on `request`.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}
