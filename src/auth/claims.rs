//! Where a token keeps the caller's organization, role and scopes, and how
//! they become a [`Caller`]. Identity providers differ: a claim may sit at the
//! top (`org_id`), inside an object (Keycloak's `realm_access.roles`), or
//! under a namespaced name that itself holds dots (Auth0's
//! `https://example.com/org_id`).

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::AuthError;
use crate::domain::{Caller, Membership, OrganizationId, Role};

/// The place of a claim in a token's payload: names of nested objects,
/// outermost first.
///
/// Written like a JavaScript property access: `org_id`,
/// `realm_access.roles`, and a name holding dots or brackets in brackets and
/// double quotes, as a JSON string: `["https://example.com/org_id"]`,
/// `["https://example.com/claims"].org_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

/// Why a claim path does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimPathError {
    #[error("the claim path is empty")]
    Empty,
    #[error("an empty name at character {0}: two dots, or a dot at an end")]
    EmptyName(usize),
    #[error("an unclosed `[\"` at character {0}")]
    Unclosed(usize),
    #[error("a bracketed name must be a double-quoted JSON string, at character {0}")]
    BadBracket(usize),
    #[error("expected `.` or `[` after `]` at character {0}")]
    AfterBracket(usize),
    #[error("a bare name cannot hold `]` or `\"` (at character {0}); bracket and quote it")]
    BadCharacter(usize),
}

impl ClaimPath {
    /// The names from the outermost object inward.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The value at this path in `claims`, if every step is there.
    fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |value, name| value.get(name))
    }
}

impl FromStr for ClaimPath {
    type Err = ClaimPathError;

    fn from_str(text: &str) -> Result<Self, ClaimPathError> {
        if text.is_empty() {
            return Err(ClaimPathError::Empty);
        }
        let mut names = Vec::new();
        let mut rest = text;
        loop {
            let at = text.len() - rest.len();
            if rest.starts_with('[') {
                let (name, after) = bracketed(rest, at)?;
                names.push(name);
                rest = after;
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let name = &rest[..end];
                if name.is_empty() {
                    return Err(ClaimPathError::EmptyName(at));
                }
                if let Some(bad) = name.find([']', '"']) {
                    return Err(ClaimPathError::BadCharacter(at + bad));
                }
                names.push(name.to_owned());
                rest = &rest[end..];
            }
            let at = text.len() - rest.len();
            match rest.chars().next() {
                None => return Ok(Self(names)),
                Some('.') => {
                    rest = &rest[1..];
                    if rest.is_empty() || rest.starts_with(['.', '[']) {
                        return Err(ClaimPathError::EmptyName(at + 1));
                    }
                }
                Some('[') => {}
                Some(_) => return Err(ClaimPathError::AfterBracket(at)),
            }
        }
    }
}

/// `["name"]` at the start of `rest` (which starts at character `at`): the
/// name, and what follows the closing bracket.
fn bracketed(rest: &str, at: usize) -> Result<(String, &str), ClaimPathError> {
    let quoted = rest[1..]
        .strip_prefix('"')
        .ok_or(ClaimPathError::BadBracket(at))?;
    // The closing quote is the first one no backslash escapes.
    let mut escaped = false;
    let close = quoted
        .char_indices()
        .find(|&(_, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        })
        .map(|(i, _)| i)
        .ok_or(ClaimPathError::Unclosed(at))?;
    let literal = &rest[1..2 + close + 1];
    let name: String = serde_json::from_str(literal).map_err(|_| ClaimPathError::BadBracket(at))?;
    if name.is_empty() {
        return Err(ClaimPathError::EmptyName(at));
    }
    let after = quoted[close + 1..]
        .strip_prefix(']')
        .ok_or(ClaimPathError::Unclosed(at))?;
    Ok((name, after))
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            let bare = !name.is_empty() && !name.contains(['.', '[', ']', '"']);
            match (bare, i) {
                (true, 0) => f.write_str(name)?,
                (true, _) => write!(f, ".{name}")?,
                (false, _) => write!(f, "[{}]", Value::from(name.as_str()))?,
            }
        }
        Ok(())
    }
}

/// Which claims hold the organization, the role and the scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// The organization's UUID, a string.
    pub organization: ClaimPath,
    /// A role name, or a list of names of which the highest known one counts.
    pub role: ClaimPath,
    /// Space-separated scopes, or a list of scopes.
    pub scope: ClaimPath,
}

impl Default for ClaimNames {
    fn default() -> Self {
        let path = |name: &str| ClaimPath(vec![name.to_owned()]);
        Self {
            organization: path("org_id"),
            role: path("role"),
            scope: path("scope"),
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
        })
    }

    /// Reads the role: one name (which must be known), or a list whose highest
    /// known name counts (providers put unrelated roles beside ours).
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
            Some(_) => Err(AuthError::Invalid(format!(
                "the {} claim is neither a string nor a list",
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.parse::<ClaimPath>()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .0
    }

    fn names(organization: &str, role: &str, scope: &str) -> ClaimNames {
        ClaimNames {
            organization: organization.parse().unwrap(),
            role: role.parse().unwrap(),
            scope: scope.parse().unwrap(),
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else {
            panic!("not an object")
        };
        map
    }

    const ORG: &str = "5d1c4b6e-0c3a-4f0e-9a43-6a1f2b3c4d5e";

    #[test]
    fn a_plain_name_is_one_step() {
        assert_eq!(path("org_id"), ["org_id"]);
        assert_eq!(path("scp"), ["scp"]);
    }

    #[test]
    fn dots_step_into_nested_objects() {
        assert_eq!(path("realm_access.roles"), ["realm_access", "roles"]);
        assert_eq!(path("a.b.c"), ["a", "b", "c"]);
    }

    #[test]
    fn a_bracketed_quoted_name_may_hold_dots_slashes_and_brackets() {
        assert_eq!(
            path(r#"["https://example.com/org_id"]"#),
            ["https://example.com/org_id"]
        );
        assert_eq!(
            path(r#"["https://example.com/claims"].org_id"#),
            ["https://example.com/claims", "org_id"]
        );
        assert_eq!(path(r#"app["x.y"]["[z]"]"#), ["app", "x.y", "[z]"]);
        assert_eq!(
            path(r#"urn:zitadel:iam:org:project:roles"#),
            ["urn:zitadel:iam:org:project:roles"]
        );
    }

    #[test]
    fn a_bracketed_name_is_a_json_string_with_its_escapes() {
        assert_eq!(path(r#"["say \"hi\""]"#), [r#"say "hi""#]);
        assert_eq!(path(r#"["back\\slash"]"#), [r"back\slash"]);
        assert_eq!(path(r#"["\u00e9"]"#), ["é"]);
    }

    #[test]
    fn malformed_paths_are_refused_with_the_place_of_the_fault() {
        let fault = |text: &str| text.parse::<ClaimPath>().unwrap_err();
        assert_eq!(fault(""), ClaimPathError::Empty);
        assert_eq!(fault("a..b"), ClaimPathError::EmptyName(2));
        assert_eq!(fault(".a"), ClaimPathError::EmptyName(0));
        assert_eq!(fault("a."), ClaimPathError::EmptyName(2));
        assert_eq!(fault(r#"a.["b"]"#), ClaimPathError::EmptyName(2));
        assert_eq!(fault(r#"["a"#), ClaimPathError::Unclosed(0));
        assert_eq!(fault(r#"["a""#), ClaimPathError::Unclosed(0));
        assert_eq!(fault("[a]"), ClaimPathError::BadBracket(0));
        assert_eq!(fault(r#"[""]"#), ClaimPathError::EmptyName(0));
        assert_eq!(fault(r#"["a"]b"#), ClaimPathError::AfterBracket(5));
        assert_eq!(fault("a]"), ClaimPathError::BadCharacter(1));
        assert_eq!(fault(r#"a"b"#), ClaimPathError::BadCharacter(1));
    }

    #[test]
    fn a_path_prints_as_it_parses() {
        for text in [
            "org_id",
            "realm_access.roles",
            r#"["https://example.com/org_id"]"#,
            r#"["https://example.com/claims"].org_id"#,
            r#"app["x.y"]"#,
        ] {
            assert_eq!(text.parse::<ClaimPath>().unwrap().to_string(), text);
        }
    }

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
}
