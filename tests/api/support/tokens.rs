//! Tokens signed as the test servers expect, and requests that carry them.

use super::*;

/// Claims of a valid token, valid for an hour.
pub fn claims(organization: Uuid, role: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "sub": "user-42",
        "org_id": organization.to_string(),
        "role": role,
        "iat": now,
        "exp": now + 3600,
    })
}

/// Signs `claims` with the test servers' HS256 secret.
pub fn hs256(claims: &Value) -> String {
    sign(
        claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
}

pub fn sign(claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("sign test token")
}

/// `message` with `authorization: Bearer <token>` metadata.
pub fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// Asserts an INVALID_ARGUMENT whose BadRequest names `field`, and returns
/// that violation's description.
pub fn assert_field_violation(status: &Status, field: &str) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest detail in {status:?}"));
    bad_request
        .field_violations
        .iter()
        .find(|v| v.field == field)
        .unwrap_or_else(|| panic!("no violation for {field} in {bad_request:?}"))
        .description
        .clone()
}

/// A service token: no organization, the `events:publish` scope.
pub fn publisher_token() -> String {
    service_token("billing-service", "events:publish", 3600)
}

/// A platform's backend token: no organization, the `webhooks:admin` scope.
pub fn platform_token() -> String {
    service_token(PLATFORM, "webhooks:admin", 3600)
}

/// The subject of [`platform_token`].
pub const PLATFORM: &str = "platform-backend";

/// A token without organization or role, for `subject` with `scope`
/// (space-separated), valid for `seconds`.
pub fn service_token(subject: &str, scope: &str, seconds: u64) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    hs256(&json!({
        "sub": subject,
        "scope": scope,
        "iat": now,
        "exp": now + seconds,
    }))
}
