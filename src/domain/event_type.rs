//! The names of event types, and the built-in part of the catalogue.
//!
//! The catalogue itself is data (see [`super::catalogue`]): the platform
//! adds its own types through the API. A name here is only checked for its
//! shape; whether the catalogue holds it, and whether it is archived, is
//! the service's business.

use std::borrow::Borrow;
use std::sync::Arc;

use super::validation::quoted;

/// The name of an event type, such as `member.added`: 1 to 128 of
/// lowercase letters, digits, `_`, `.` and `-`, starting with a letter,
/// with no empty part between dots. Cheap to clone.
#[derive(Clone)]
pub struct EventType(Name);

#[derive(Clone)]
enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

/// The longest name accepted.
pub const MAX_NAME: usize = 128;

/// The built-in types: present in every database, never archived, their
/// names and meaning fixed. Published by the platform's services, except
/// the last two, which this service publishes itself.
pub const BUILT_IN: [(&str, &str); 13] = [
    ("organization.created", "An organization was created."),
    (
        "organization.updated",
        "An organization's name or settings changed.",
    ),
    ("organization.deleted", "An organization was deleted."),
    ("member.added", "A user joined the organization."),
    (
        "member.removed",
        "A user left or was removed from the organization.",
    ),
    ("member.role_updated", "A member's role changed."),
    ("invite.created", "Someone was invited to the organization."),
    ("invite.accepted", "An invitation was accepted."),
    ("invite.cancelled", "An invitation was withdrawn."),
    ("oauth_app.created", "An OAuth application was registered."),
    ("oauth_app.revoked", "An OAuth application was revoked."),
    ("webhook.created", "A webhook was registered."),
    (
        "webhook.disabled",
        "A webhook was disabled after failing for too long.",
    ),
];

impl EventType {
    /// `member.added`, built in.
    pub const MEMBER_ADDED: EventType = EventType::fixed("member.added");
    /// `webhook.created`, which this service publishes when a webhook is
    /// registered.
    pub const WEBHOOK_CREATED: EventType = EventType::fixed("webhook.created");
    /// `webhook.disabled`, which this service publishes when it disables a
    /// webhook.
    pub const WEBHOOK_DISABLED: EventType = EventType::fixed("webhook.disabled");
    /// `webhook.ping`: a test delivery asked for with SendTestEvent. Sent
    /// by the service itself, so never in the catalogue, never subscribed
    /// to nor published.
    pub const WEBHOOK_PING: EventType = EventType::fixed("webhook.ping");

    const fn fixed(name: &'static str) -> Self {
        EventType(Name::Static(name))
    }

    /// Checks the shape of a name; says what is wrong otherwise.
    pub fn parse(name: &str) -> Result<Self, InvalidName> {
        check_name(name)?;
        const PING: &str = "webhook.ping";
        let builtin = BUILT_IN.iter().map(|(n, _)| *n);
        Ok(match builtin.chain([PING]).find(|n| *n == name) {
            Some(known) => EventType(Name::Static(known)),
            None => EventType(Name::Shared(name.into())),
        })
    }

    /// The wire name, such as `member.added`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Static(name) => name,
            Name::Shared(name) => name,
        }
    }

    /// Whether this is one of the [`BUILT_IN`] types.
    pub fn is_built_in(&self) -> bool {
        BUILT_IN.iter().any(|(name, _)| *name == self.as_str())
    }

    /// The built-in types, in the order the API lists them first.
    pub fn built_in() -> impl Iterator<Item = EventType> {
        BUILT_IN.iter().map(|(name, _)| EventType::fixed(name))
    }
}

/// The name is not the shape of an event type's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not an event type name: {reason}", quoted(.name))]
pub struct InvalidName {
    name: String,
    reason: &'static str,
}

fn check_name(name: &str) -> Result<(), InvalidName> {
    let invalid = |reason| {
        Err(InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_NAME {
        return invalid("must be 1 to 128 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return invalid("only lowercase letters, digits, '_', '.' and '-' are allowed");
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return invalid("must start with a lowercase letter");
    }
    if name.split('.').any(str::is_empty) {
        return invalid("must not have an empty part between dots");
    }
    Ok(())
}

impl PartialEq for EventType {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for EventType {}

impl std::hash::Hash for EventType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for EventType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EventType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Borrow<str> for EventType {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventType({:?})", self.as_str())
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most names one subscription list may hold, duplicates included.
pub const MAX_LISTED: usize = 100;

/// The most bad names one error quotes back; the rest are counted.
const MAX_QUOTED_NAMES: usize = 5;

/// Parses a subscription list: at least one name and at most
/// [`MAX_LISTED`], each of a valid shape, duplicates kept once in the order
/// first given. Whether the catalogue holds them is checked by the caller.
pub fn parse_event_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<EventType>, String> {
    if names.is_empty() {
        return Err("must name at least one event type".into());
    }
    if names.len() > MAX_LISTED {
        return Err(format!(
            "names {} event types; at most {MAX_LISTED} are accepted",
            names.len()
        ));
    }
    let mut events: Vec<EventType> = Vec::with_capacity(names.len());
    let mut bad = Vec::new();
    for name in names {
        let name = name.as_ref();
        match EventType::parse(name) {
            Ok(t) if t == EventType::WEBHOOK_PING => bad.push(name),
            Ok(t) if !events.contains(&t) => events.push(t),
            Ok(_) => {}
            Err(_) => bad.push(name),
        }
    }
    if bad.is_empty() {
        Ok(events)
    } else {
        Err(unknown_types(&bad))
    }
}

/// The error naming event types the catalogue does not hold: the first
/// few quoted, the rest counted.
pub fn unknown_types(names: &[&str]) -> String {
    format!(
        "unknown event type {}; ListEventTypes lists the types one can subscribe to",
        quote_some(names)
    )
}

/// The error naming event types a webhook cannot subscribe to.
pub fn not_subscribable(names: &[&str]) -> String {
    format!(
        "unknown or archived event type {}; ListEventTypes lists the types one can \
         subscribe to",
        quote_some(names)
    )
}

fn quote_some(names: &[&str]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(MAX_QUOTED_NAMES)
        .map(|name| quoted(name))
        .collect();
    if names.len() > MAX_QUOTED_NAMES {
        shown.push(format!("and {} more", names.len() - MAX_QUOTED_NAMES));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_exactly_thirteen_built_in_types_and_each_name_round_trips() {
        assert_eq!(EventType::built_in().count(), 13);
        for t in EventType::built_in() {
            assert_eq!(EventType::parse(t.as_str()).unwrap(), t);
            assert!(t.is_built_in());
        }
        assert!(!EventType::WEBHOOK_PING.is_built_in());
        assert!(!EventType::parse("invoice.paid").unwrap().is_built_in());
    }

    #[test]
    fn names_have_one_shape() {
        for good in ["invoice.paid", "a", "billing.invoice_v2.paid", "x-1.y"] {
            assert!(EventType::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Member.Added",
            " member.added",
            "member.*",
            "1invoice",
            ".paid",
            "invoice.",
            "invoice..paid",
            "é.paid",
        ] {
            assert!(EventType::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EventType::parse(&"a".repeat(MAX_NAME)).is_ok());
        let err = EventType::parse(&"a".repeat(MAX_NAME + 1)).unwrap_err();
        assert!(
            err.to_string().ends_with("must be 1 to 128 characters"),
            "{err}"
        );
    }

    #[test]
    fn names_compare_by_their_text() {
        let shared = EventType::parse("invoice.paid").unwrap();
        assert_eq!(shared, EventType::parse("invoice.paid").unwrap());
        assert_eq!(
            EventType::parse("member.added").unwrap(),
            EventType::MEMBER_ADDED
        );
        assert!(shared < EventType::MEMBER_ADDED);
    }

    #[test]
    fn a_list_keeps_duplicates_once_in_first_order() {
        let list = parse_event_list(&["member.added", "invoice.paid", "member.added"]).unwrap();
        let names: Vec<&str> = list.iter().map(EventType::as_str).collect();
        assert_eq!(names, ["member.added", "invoice.paid"]);
    }

    #[test]
    fn an_empty_list_a_bad_name_or_the_ping_is_rejected() {
        assert!(parse_event_list::<&str>(&[]).is_err());
        let err = parse_event_list(&["member.added", "Member.Exploded"]).unwrap_err();
        assert!(err.contains("\"Member.Exploded\""), "{err}");
        assert!(parse_event_list(&["webhook.ping"]).is_err());
    }

    #[test]
    fn a_list_is_bounded_and_its_error_quotes_five_names_at_most() {
        assert!(parse_event_list(&["member.added"; MAX_LISTED]).is_ok());
        let err = parse_event_list(&["member.added"; MAX_LISTED + 1]).unwrap_err();
        assert_eq!(err, "names 101 event types; at most 100 are accepted");
        let long = "X".repeat(10_000);
        let names: Vec<&str> = (0..MAX_LISTED).map(|_| long.as_str()).collect();
        let err = parse_event_list(&names).unwrap_err();
        assert!(err.contains(", and 95 more; ListEventTypes"), "{err}");
        assert!(err.len() < 600, "{} bytes: {err}", err.len());
    }
}
