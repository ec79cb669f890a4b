//! Headers a webhook sends with every attempt (issue 24 item 2), such as
//! the API key a gateway in front of the endpoint demands. Checked on
//! write; their values are credentials unless declared plain, so they are
//! never quoted back, logged or shown after they are written.

use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};

use super::Violations;
use super::validation::quoted;

/// The most headers one webhook sends.
pub const MAX_HEADERS: usize = 20;
/// The longest value, in bytes.
pub const MAX_VALUE: usize = 1024;
/// The most bytes names and values may take together.
pub const MAX_TOTAL: usize = 8 * 1024;

/// Hop-by-hop headers (RFC 9110 section 7.6.1, plus the older
/// `keep-alive` and `proxy-connection`): they speak of one connection, not
/// of the request, and an HTTP client sets them itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
/// Headers the service sets on every request: the receiver relies on them.
const OURS: &[&str] = &["host", "content-length", "content-type", "user-agent"];
/// Prefixes of the service's own headers (signature, id, timestamp, ...),
/// present and future.
const RESERVED_PREFIXES: &[&str] = &["webhook-", "x-webhook-"];

/// One header as a caller wrote it, not yet checked.
#[derive(Debug, Clone)]
pub struct HeaderInput {
    pub name: String,
    /// Empty on update: keep the value stored for this name.
    pub value: SecretString,
    pub plain: bool,
}

/// A header as a webhook shows it: its value only when it is plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHeader {
    /// Lower-case.
    pub name: String,
    pub plain: bool,
    /// `Some` exactly when `plain`.
    pub value: Option<String>,
    /// The value's length in bytes, for the limit on the whole set (a
    /// sealed value's length shows anyway: the cipher does not pad).
    pub len: usize,
}

/// What a write does with a header's value.
#[derive(Debug, Clone)]
pub enum NewValue {
    /// The value given (never empty).
    Set(SecretString),
    /// Keep the value stored for this name (on update only).
    Keep,
}

/// One checked header to write.
#[derive(Debug, Clone)]
pub struct HeaderWrite {
    /// Lower-case, a token, not refused.
    pub name: String,
    pub plain: bool,
    pub value: NewValue,
}

/// A checked set of headers, in the order given; written whole, it
/// replaces what the webhook had. Only [`HeaderSet::parse`] builds one
/// with entries, so it always holds the rules of this module.
#[derive(Debug, Clone, Default)]
pub struct HeaderSet(Vec<HeaderWrite>);

impl PartialEq for HeaderSet {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &HeaderWrite, b: &HeaderWrite| {
            a.name == b.name
                && a.plain == b.plain
                && match (&a.value, &b.value) {
                    (NewValue::Set(x), NewValue::Set(y)) => x.expose_secret() == y.expose_secret(),
                    (NewValue::Keep, NewValue::Keep) => true,
                    _ => false,
                }
        };
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| same(a, b))
    }
}

impl Eq for HeaderSet {}

impl HeaderSet {
    /// Checks `input` and records every fault against `violations`: on
    /// `headers` for the set (too many, too large) or a name that is no
    /// token (quoted: a bad name is no address to report on), on
    /// `headers/<name>` (a JSON pointer, as `labels/<key>`) for the rest.
    /// `current`: the webhook's headers on update, where an empty value
    /// keeps the stored one; `None` on create, where a value is required.
    pub fn parse(
        input: &[HeaderInput],
        current: Option<&[WebhookHeader]>,
        violations: &mut Violations,
    ) -> Option<Self> {
        if input.len() > MAX_HEADERS {
            violations.add(
                "headers",
                format!(
                    "holds {} headers; at most {MAX_HEADERS} are accepted",
                    input.len()
                ),
            );
            return None;
        }
        let before = violations.reported().len() + violations.omitted();
        let mut seen = HashSet::new();
        let mut total = 0;
        let mut set = Vec::with_capacity(input.len());
        for header in input {
            let name = header.name.to_ascii_lowercase();
            if !is_token(&name) {
                violations.add(
                    "headers",
                    format!(
                        "name {} is not an RFC 9110 token (letters, digits and \
                         !#$%&'*+-.^_`|~, at least one)",
                        quoted(&header.name)
                    ),
                );
                continue;
            }
            let field = format!("headers/{}", name.replace('~', "~0"));
            if let Some(why) = refused(&name) {
                violations.add(field.clone(), why);
            }
            if !seen.insert(name.clone()) {
                violations.add(
                    field.clone(),
                    "is given more than once (names are matched without regard to case)",
                );
            }
            let value = header.value.expose_secret();
            let (value, len) = if value.is_empty() {
                match kept(&name, header.plain, current) {
                    Ok(len) => (NewValue::Keep, len),
                    Err(why) => {
                        violations.add(field, why);
                        continue;
                    }
                }
            } else {
                if let Err(why) = check_value(value) {
                    violations.add(field, why);
                }
                (NewValue::Set(header.value.clone()), value.len())
            };
            total += name.len() + len;
            set.push(HeaderWrite {
                name,
                plain: header.plain,
                value,
            });
        }
        if total > MAX_TOTAL {
            violations.add(
                "headers",
                format!("names and values take {total} bytes; at most {MAX_TOTAL} are accepted"),
            );
        }
        let clean = violations.reported().len() + violations.omitted() == before;
        clean.then_some(Self(set))
    }

    /// The headers, in the order given.
    pub fn entries(&self) -> &[HeaderWrite] {
        &self.0
    }

    /// True for no headers: written, it clears the webhook's.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why the service will not send a header of this (lower-case) name, if it
/// will not. The delivery client checks it too, so that a header stored
/// before a rule was added can never replace one of ours.
pub fn refused(name: &str) -> Option<&'static str> {
    if HOP_BY_HOP.contains(&name) {
        Some("is a hop-by-hop header, which the HTTP client manages")
    } else if OURS.contains(&name) {
        Some("is set by the service on every request")
    } else if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        Some("is reserved: names starting webhook- or x-webhook- are the service's own")
    } else {
        None
    }
}

/// The stored value's length when an empty value may keep it.
fn kept(name: &str, plain: bool, current: Option<&[WebhookHeader]>) -> Result<usize, &'static str> {
    let Some(current) = current else {
        return Err("has an empty value; give the value to send");
    };
    match current.iter().find(|h| h.name == name) {
        None => Err(
            "has an empty value, which keeps a stored one, but the webhook has no header of this name",
        ),
        Some(stored) if plain && !stored.plain => {
            Err("cannot make a kept credential plain (it would be shown); give the value again")
        }
        Some(stored) => Ok(stored.len),
    }
}

/// A value a header may carry on the wire as written: no control
/// characters but HTAB (so no CR, LF or NUL to split or cut a request), no
/// blanks at either end (HTTP would drop them).
fn check_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE {
        return Err(format!(
            "has a value of {} bytes; at most {MAX_VALUE} are accepted",
            value.len()
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(
            "has a value with a control character (CR, LF, NUL, ...); only tab is accepted".into(),
        );
    }
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return Err("has a value that starts or ends with a space or tab".into());
    }
    Ok(())
}

/// An RFC 9110 token: one or more tchar.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, value: &str, plain: bool) -> HeaderInput {
        HeaderInput {
            name: name.into(),
            value: SecretString::from(value),
            plain,
        }
    }

    fn faults(input: &[HeaderInput], current: Option<&[WebhookHeader]>) -> Vec<(String, String)> {
        let mut violations = Violations::default();
        let set = HeaderSet::parse(input, current, &mut violations);
        assert_eq!(set.is_none(), !violations.is_empty());
        violations
            .reported()
            .iter()
            .map(|v| (v.field.to_string(), v.description.clone()))
            .collect()
    }

    fn fields(input: &[HeaderInput]) -> Vec<String> {
        faults(input, None).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn names_are_stored_lower_case_in_the_order_given() {
        let mut violations = Violations::default();
        let set = HeaderSet::parse(
            &[
                input("X-Tenant", "a", true),
                input("Authorization", "Bearer x", false),
            ],
            None,
            &mut violations,
        )
        .unwrap();
        let names: Vec<_> = set.entries().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["x-tenant", "authorization"]);
        assert!(set.entries()[0].plain);
    }

    #[test]
    fn refused_names_are_reported_on_their_pointer() {
        for name in [
            "Host",
            "webhook-id",
            "X-Webhook-Foo",
            "transfer-encoding",
            "proxy-connection",
            "user-agent",
            "content-type",
        ] {
            let lower = name.to_ascii_lowercase();
            assert_eq!(
                fields(&[input(name, "v", false)]),
                [format!("headers/{lower}")]
            );
        }
        assert!(fields(&[input("webhookish", "v", false)]).is_empty());
    }

    #[test]
    fn a_name_that_is_no_token_is_reported_on_the_set_quoted() {
        let found = faults(
            &[input("bad name", "v", false), input("", "v", false)],
            None,
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, "headers");
        assert!(found[0].1.contains("\"bad name\""), "{}", found[0].1);
        assert!(fields(&[input("a~b", "v", false)]).is_empty());
    }

    #[test]
    fn values_are_checked_and_never_quoted() {
        for bad in ["a\r\nb", "a\nb", "a\0b", " lead", "trail\t"] {
            let found = faults(&[input("x-key", bad, false)], None);
            assert_eq!(found.len(), 1, "{bad:?}");
            assert_eq!(found[0].0, "headers/x-key");
            assert!(!found[0].1.contains(bad.trim()), "{}", found[0].1);
        }
        assert!(fields(&[input("x-key", "a\tb é", false)]).is_empty());
        assert_eq!(
            fields(&[input("x-key", &"v".repeat(MAX_VALUE + 1), false)]),
            ["headers/x-key"]
        );
        assert!(fields(&[input("x-key", &"v".repeat(MAX_VALUE), false)]).is_empty());
    }

    #[test]
    fn the_set_is_bounded_in_count_and_size() {
        let many: Vec<_> = (0..=MAX_HEADERS)
            .map(|i| input(&format!("x-{i}"), "v", false))
            .collect();
        assert_eq!(fields(&many), ["headers"]);
        assert!(fields(&many[..MAX_HEADERS]).is_empty());
        // Nine values of 1,000 bytes: each fine, together over 8 KiB.
        let big: Vec<_> = (0..9)
            .map(|i| input(&format!("x-{i}"), &"v".repeat(1000), false))
            .collect();
        assert_eq!(fields(&big), ["headers"]);
    }

    #[test]
    fn a_name_given_twice_in_any_case_is_refused() {
        let found = fields(&[input("X-Key", "a", false), input("x-key", "b", false)]);
        assert_eq!(found, ["headers/x-key"]);
    }

    #[test]
    fn an_empty_value_keeps_a_stored_header_on_update_only() {
        let current = [WebhookHeader {
            name: "authorization".into(),
            plain: false,
            value: None,
            len: 4000,
        }];
        assert_eq!(
            fields(&[input("authorization", "", false)]),
            ["headers/authorization"]
        );
        let mut violations = Violations::default();
        let set = HeaderSet::parse(
            &[input("Authorization", "", false)],
            Some(&current),
            &mut violations,
        )
        .unwrap();
        assert!(matches!(set.entries()[0].value, NewValue::Keep));
        let unknown = faults(&[input("x-other", "", false)], Some(&current));
        assert_eq!(unknown[0].0, "headers/x-other");
        let exposed = faults(&[input("authorization", "", true)], Some(&current));
        assert_eq!(exposed[0].0, "headers/authorization");
        // A kept value counts toward the set's size.
        let more = [
            input("authorization", "", false),
            input("x-big", &"v".repeat(1000), false),
            input("x-big2", &"v".repeat(1000), false),
            input("x-big3", &"v".repeat(1000), false),
            input("x-big4", &"v".repeat(1000), false),
            input("x-big5", &"v".repeat(200), false),
        ];
        assert!(faults(&more[..5], Some(&current)).is_empty());
        assert_eq!(faults(&more, Some(&current))[0].0, "headers");
    }
}
