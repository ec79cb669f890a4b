//! Claim paths: `org_id`, `realm_access.roles`, `["https://example.com/org_id"]`.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

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
    /// A claim at the top of the payload.
    pub(super) fn name(name: &str) -> Self {
        Self(vec![name.to_owned()])
    }

    /// The value at this path in `claims`, if every step is there.
    pub(super) fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.parse::<ClaimPath>()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .0
    }

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
}
