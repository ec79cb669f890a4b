//! Portal links: a short-lived link that opens the web console for one
//! organization, for a host application to embed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{ServiceError, authorized, parse_field};
use crate::auth::PortalTokens;
use crate::domain::access::authorize_early;
use crate::domain::{Action, Caller, LinkLifetime, OrganizationId};

/// Why a token at (or past, within the verifier's leeway) its `exp` gets
/// no link.
const TOKEN_ENDING: &str = "the token has expired or expires within the second, and a portal link \
     never outlives the token that makes it: make the link with a fresh token";

/// Asks for a portal link, not yet validated.
#[derive(Debug, Clone)]
pub struct CreatePortalLink {
    pub organization_id: String,
    /// The lifetime asked for, as `(seconds, nanos)`; `None` for the default.
    pub ttl: Option<(i64, i32)>,
}

/// A link to the console and when it stops working.
#[derive(Debug, Clone)]
pub struct PortalLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The portal link use case.
#[derive(Clone)]
pub struct PortalLinks {
    tokens: Arc<PortalTokens>,
    max_ttl: Duration,
    /// The console's URL (`<public url>/console/`); `None` when the REST
    /// listener is off and no console is served.
    console: Option<String>,
}

impl PortalLinks {
    /// Links to the console under `public_url`, unless it is `None`.
    pub fn new(tokens: Arc<PortalTokens>, max_ttl: Duration, public_url: Option<&str>) -> Self {
        Self {
            tokens,
            max_ttl,
            console: public_url.map(|base| format!("{}/console/", base.trim_end_matches('/'))),
        }
    }

    /// A link for the caller to hand to the person it acts for. The token
    /// rides in the fragment, which browsers never send to a server, so it
    /// stays out of every access log. It ends after the lifetime asked for
    /// or when the caller's own token expires, whichever comes first, and
    /// the answer's `expires_at` says which.
    pub fn create(
        &self,
        caller: &Caller,
        request: CreatePortalLink,
    ) -> Result<PortalLink, ServiceError> {
        let organization_id = OrganizationId::parse(&request.organization_id).ok();
        authorize_early(caller, Action::CreatePortalLink, organization_id)?;
        let organization = authorized(caller, Action::CreatePortalLink, &request.organization_id)?;
        let lifetime = parse_field("ttl", LinkLifetime::parse(request.ttl, self.max_ttl))?;
        let Some(console) = &self.console else {
            return Err(ServiceError::FailedPrecondition(
                "the REST listener is off (WEBHOOK_HTTP_ADDR), so there is no console to link to"
                    .into(),
            ));
        };
        let expires_at = lifetime
            .ends(Utc::now(), caller.expires_at)
            .ok_or(ServiceError::FailedPrecondition(TOKEN_ENDING.into()))?;
        let issued = self
            .tokens
            .issue(&caller.subject, organization, expires_at)
            .map_err(ServiceError::Internal)?;
        Ok(PortalLink {
            url: format!("{console}#token={}", issued.token),
            expires_at: issued.expires_at,
        })
    }
}
