//! The caller of a request, from its headers alone: both faces ask it
//! before they read a body or decode a message.

use std::sync::Arc;

use tonic::codegen::http::HeaderMap;

use super::portal::{PortalTokens, is_portal_token};
use super::{AuthError, JwtVerifier, bearer};
use crate::domain::Caller;

/// Which face a request came in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Grpc,
    /// The REST face, where the console takes portal tokens.
    Rest,
}

/// Verifies bearer tokens: the identity provider's, and (on the REST face
/// only) portal tokens.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<JwtVerifier>,
    portal: Arc<PortalTokens>,
}

impl Authenticator {
    pub fn new(verifier: Arc<JwtVerifier>, portal: Arc<PortalTokens>) -> Self {
        Self { verifier, portal }
    }

    /// The caller a request with these headers, come in through `face`,
    /// speaks for. A token whose header says `typ: portal+jwt` is checked
    /// with the portal key, and only on the REST face; any other with the
    /// identity provider's keys.
    pub async fn caller(&self, headers: &HeaderMap, face: Face) -> Result<Caller, AuthError> {
        let token = bearer(headers)?;
        // A token of the identity provider that passed lately: the
        // verifier never keeps a portal token, so this is no shortcut past
        // the faces' rule below.
        if let Some(caller) = self.verifier.cached(token) {
            return Ok(caller);
        }
        if !is_portal_token(token) {
            return self.verifier.verify(token).await;
        }
        if face != Face::Rest {
            return Err(AuthError::OutsideConsole);
        }
        self.portal.verify(token)
    }
}
