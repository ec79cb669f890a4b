//! Portal links as a test sees them: made over gRPC, taken apart, and
//! portal tokens signed by hand.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use webhook_service::grpc::proto::{CreatePortalLinkRequest, CreatePortalLinkResponse};

use super::*;

/// A portal key for tests that sign their own portal tokens.
pub const PORTAL_KEY: &str = "test-portal-key-0123456789abcdef0123";

impl TestApp {
    /// CreatePortalLink for this app's organization with `token`.
    pub async fn create_portal_link(
        &self,
        token: &str,
        ttl: Option<pbjson_types::Duration>,
    ) -> Result<CreatePortalLinkResponse, Status> {
        self.create_portal_link_for(self.organization, token, ttl)
            .await
    }

    /// CreatePortalLink for `organization` with `token`.
    pub async fn create_portal_link_for(
        &self,
        organization: Uuid,
        token: &str,
        ttl: Option<pbjson_types::Duration>,
    ) -> Result<CreatePortalLinkResponse, Status> {
        let request = CreatePortalLinkRequest {
            organization_id: organization.to_string(),
            ttl,
        };
        self.webhooks()
            .await
            .create_portal_link(authorized(request, token))
            .await
            .map(|r| r.into_inner())
    }

    /// The portal token of a fresh link made by an OWNER.
    pub async fn portal_token(&self) -> String {
        let link = self
            .create_portal_link(&self.token("OWNER"), None)
            .await
            .expect("a portal link");
        token_of_link(&link.url)
    }
}

/// The token in a link's `#token=` fragment.
pub fn token_of_link(url: &str) -> String {
    let (_, token) = url.split_once("#token=").expect("a #token= fragment");
    token.to_owned()
}

/// The header and payload of a JWT, unverified.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut read = || {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts.next().expect("a JWT part"))
            .expect("base64url");
        serde_json::from_slice::<Value>(&bytes).expect("JSON")
    };
    (read(), read())
}

/// `claims` signed as a portal token (HS256, `typ: portal+jwt`) with `key`.
pub fn sign_portal_token(claims: &Value, key: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("portal+jwt".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key.as_bytes()))
        .expect("sign a portal token")
}

/// The claims of a valid portal token for `organization`, expiring at `exp`.
pub fn portal_claims(organization: Uuid, exp: u64) -> Value {
    json!({
        "iss": "webhook-service",
        "aud": "webhook-console",
        "sub": "user-42",
        "org_id": organization.to_string(),
        "iat": jsonwebtoken::get_current_timestamp(),
        "exp": exp,
        "jti": Uuid::new_v4().to_string(),
    })
}
