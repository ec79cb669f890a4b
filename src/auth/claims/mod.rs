//! Where a token keeps the caller's organization, role and scopes, and how
//! they become a [`Caller`]. Identity providers differ: a claim may sit at the
//! top (`org_id`), inside an object (Keycloak's `realm_access.roles`), or
//! under a namespaced name that itself holds dots (Auth0's
//! `https://example.com/org_id`).

mod path;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use path::{ClaimPath, ClaimPathError};

use super::AuthError;
use crate::domain::{Caller, Credential, Membership, OrganizationId, Role};

/// Which claims hold the organization, the role and the scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// The organization's UUID, a string.
    pub organization: ClaimPath,
    /// A role name, or a list of names (or an object keyed by names) of which
    /// the highest known one counts.
    pub role: ClaimPath,
    /// Space-separated scopes, or a list of scopes.
    pub scope: ClaimPath,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            organization: ClaimPath::name("org_id"),
            role: ClaimPath::name("role"),
            scope: ClaimPath::name("scope"),
        }
    }
}

impl ClaimNames {
    /// The caller that verified `claims` describe.
    pub fn caller(&self, claims: &Map<String, Value>) -> Result<Caller, AuthError> {
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err(AuthError::Invalid("sub is not a non-empty string".into())),
        };
        // `sub` is logged and stored (as the creator of a webhook).
        if subject.chars().any(char::is_control) {
            return Err(AuthError::Invalid("control characters in sub".into()));
        }
        let organization = match self.organization.find(claims) {
            None | Some(Value::Null) => None,
            Some(Value::String(org)) => Some(OrganizationId::parse(org).map_err(|_| {
                AuthError::Invalid(format!("the {} claim is not a UUID", self.organization))
            })?),
            Some(_) => {
                return Err(AuthError::Invalid(format!(
                    "the {} claim is not a string",
                    self.organization
                )));
            }
        };
        let role = self.read_role(claims)?;
        let membership = match (organization, role) {
            (None, None) => None,
            (Some(organization_id), Some(role)) => Some(Membership {
                organization_id,
                role,
            }),
            _ => {
                return Err(AuthError::Invalid(format!(
                    "the {} and {} claims come together",
                    self.organization, self.role
                )));
            }
        };
        Ok(Caller {
            subject: subject.clone(),
            membership,
            scopes: self.read_scopes(claims)?,
            credential: Credential::IdentityToken,
            expires_at: read_expiry(claims)?,
        })
    }

    /// Reads the role: one name (which must be known), or a list, or an
    /// object keyed by role names, whose highest known name counts (providers
    /// put unrelated roles beside ours).
    fn read_role(&self, claims: &Map<String, Value>) -> Result<Option<Role>, AuthError> {
        match self.role.find(claims) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(role)) => role
                .parse()
                .map(Some)
                .map_err(|()| AuthError::Invalid(format!("unknown role in {}", self.role))),
            Some(Value::Array(roles)) => Ok(Role::highest(
                roles
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|r| r.parse().ok()),
            )),
            // Zitadel: `{"admin": {"<org id>": "<domain>"}}`.
            Some(Value::Object(roles)) => {
                Ok(Role::highest(roles.keys().filter_map(|r| r.parse().ok())))
            }
            Some(_) => Err(AuthError::Invalid(format!(
                "the {} claim is neither a string, a list nor an object",
                self.role
            ))),
        }
    }

    /// Reads the scopes: space-separated (OAuth) or a list (Okta's `scp`).
    fn read_scopes(&self, claims: &Map<String, Value>) -> Result<Vec<String>, AuthError> {
        match self.scope.find(claims) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(scope)) => Ok(scope.split_whitespace().map(str::to_owned).collect()),
            Some(Value::Array(scopes)) => Ok(scopes
                .iter()
                .filter_map(Value::as_str)
                .flat_map(str::split_whitespace)
                .map(str::to_owned)
                .collect()),
            Some(_) => Err(AuthError::Invalid(format!(
                "the {} claim is neither a string nor a list",
                self.scope
            ))),
        }
    }
}

/// When a token expires: its `exp`, which the verifier requires and has
/// checked (a number of seconds, maybe with a fraction). A fraction is
/// dropped, so that what depends on the token (a portal link) never
/// outlasts it; a time past the calendar's end counts as that end.
fn read_expiry(claims: &Map<String, Value>) -> Result<DateTime<Utc>, AuthError> {
    match claims.get("exp").and_then(Value::as_f64) {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            // `as` saturates: a huge value becomes i64::MAX, past any date.
            Ok(DateTime::from_timestamp(seconds.floor() as i64, 0)
                .unwrap_or(DateTime::<Utc>::MAX_UTC))
        }
        _ => Err(AuthError::Invalid("exp is not a number of seconds".into())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(organization: &str, role: &str, scope: &str) -> ClaimNames {
        ClaimNames {
            organization: organization.parse().unwrap(),
            role: role.parse().unwrap(),
            scope: scope.parse().unwrap(),
        }
    }

    /// The claims `value` holds, with an `exp` when it has none (the
    /// verifier lets no token without one through).
    fn object(value: Value) -> Map<String, Value> {
        let Value::Object(mut map) = value else {
            panic!("not an object")
        };
        map.entry("exp").or_insert(json!(EXP));
        map
    }

    /// 2033-05-18T03:33:20Z.
    const EXP: u64 = 2_000_000_000;

    const ORG: &str = "5d1c4b6e-0c3a-4f0e-9a43-6a1f2b3c4d5e";

    #[test]
    fn the_default_names_read_org_id_role_and_a_space_separated_scope() {
        let caller = ClaimNames::default()
            .caller(&object(json!({
                "sub": "alice", "org_id": ORG, "role": "ADMIN", "scope": "a b",
            })))
            .unwrap();
        let membership = caller.membership.unwrap();
        assert_eq!(membership.organization_id.to_string(), ORG);
        assert_eq!(membership.role, Role::Admin);
        assert_eq!(caller.scopes, ["a", "b"]);
        assert_eq!(caller.subject, "alice");
    }

    #[test]
    fn nested_and_namespaced_claims_are_found() {
        let names = names(
            r#"["https://example.com/org_id"]"#,
            "realm_access.roles",
            "scp",
        );
        let caller = names
            .caller(&object(json!({
                "sub": "bob",
                "https://example.com/org_id": ORG,
                "realm_access": { "roles": ["offline_access", "admin"] },
                "scp": ["events:publish", "profile"],
            })))
            .unwrap();
        assert_eq!(caller.membership.unwrap().role, Role::Admin);
        assert_eq!(caller.scopes, ["events:publish", "profile"]);
    }

    #[test]
    fn in_a_list_of_roles_the_highest_known_one_counts() {
        let claims = |roles: Value| object(json!({"sub": "c", "org_id": ORG, "role": roles}));
        let role = |roles| {
            ClaimNames::default()
                .caller(&claims(roles))
                .map(|c| c.membership.unwrap().role)
        };
        assert_eq!(
            role(json!(["member", "Owner", "admin"])).unwrap(),
            Role::Owner
        );
        assert_eq!(
            role(json!(["uma_authorization", "MEMBER"])).unwrap(),
            Role::Member
        );
        // With an organization, some known role is needed.
        assert!(role(json!(["uma_authorization", 7])).is_err());
        assert!(role(json!([])).is_err());
    }

    #[test]
    fn an_object_keyed_by_role_names_counts_its_highest_known_key() {
        let names = names("org_id", "urn:zitadel:iam:org:project:roles", "scope");
        let caller = names
            .caller(&object(json!({
                "sub": "z",
                "org_id": ORG,
                "urn:zitadel:iam:org:project:roles": {
                    "member": {"2840": "acme.zitadel.cloud"},
                    "admin": {"2840": "acme.zitadel.cloud"},
                    "auditor": {"2840": "acme.zitadel.cloud"},
                },
            })))
            .unwrap();
        assert_eq!(caller.membership.unwrap().role, Role::Admin);
    }

    #[test]
    fn a_single_role_must_be_known() {
        let caller = |role: Value| {
            ClaimNames::default().caller(&object(json!({"sub": "c", "org_id": ORG, "role": role})))
        };
        assert!(caller(json!("owner")).is_ok());
        assert!(caller(json!("SUPERUSER")).is_err());
        assert!(caller(json!(3)).is_err());
    }

    #[test]
    fn an_organization_and_a_role_come_together() {
        let caller = |claims: Value| ClaimNames::default().caller(&object(claims));
        assert!(caller(json!({"sub": "s", "org_id": ORG})).is_err());
        assert!(caller(json!({"sub": "s", "role": "OWNER"})).is_err());
        assert!(caller(json!({"sub": "s", "org_id": "acme", "role": "OWNER"})).is_err());
        assert!(caller(json!({"sub": "s", "org_id": 42, "role": "OWNER"})).is_err());
        let service = caller(json!({"sub": "s", "org_id": null, "scope": "x"})).unwrap();
        assert_eq!(service.membership, None);
    }

    #[test]
    fn a_path_through_a_missing_or_non_object_step_finds_nothing() {
        let names = names("a.b", "role", "x.y.z");
        let caller = names
            .caller(&object(json!({"sub": "s", "a": "flat", "x": {"y": 1}})))
            .unwrap();
        assert_eq!(caller.membership, None);
        assert!(caller.scopes.is_empty());
    }

    #[test]
    fn scopes_of_other_types_and_bad_subjects_are_refused() {
        let caller = |claims: Value| ClaimNames::default().caller(&object(claims));
        assert!(caller(json!({"sub": "s", "scope": {"a": true}})).is_err());
        assert!(caller(json!({"sub": ""})).is_err());
        assert!(caller(json!({"sub": 12})).is_err());
        assert!(caller(json!({"sub": "a\nb"})).is_err());
    }

    #[test]
    fn the_expiry_is_exp_in_whole_seconds_rounded_down() {
        let expiry = |exp: Value| {
            ClaimNames::default()
                .caller(&object(json!({"sub": "s", "exp": exp})))
                .map(|c| c.expires_at)
        };
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(expiry(json!(EXP)).unwrap(), at(2_000_000_000));
        assert_eq!(expiry(json!(1_999_999_999.9)).unwrap(), at(1_999_999_999));
        assert_eq!(expiry(json!(u64::MAX)).unwrap(), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            ClaimNames::default()
                .caller(&object(json!({"sub": "s"})))
                .unwrap()
                .expires_at,
            at(2_000_000_000)
        );
        assert!(expiry(json!("soon")).is_err());
        assert!(expiry(json!(-1)).is_err());
        assert!(expiry(Value::Null).is_err());
    }
}
