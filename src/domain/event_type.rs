//! The event types an organization's webhooks can subscribe to.

use std::str::FromStr;

use super::validation::quoted;

macro_rules! event_types {
    (
        subscribable { $($variant:ident => $name:literal, $description:literal;)* }
        internal { $($internal:ident => $iname:literal, $idescription:literal;)* }
    ) => {
        /// A kind of event that happens in an organization.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $(#[doc = $description] $variant,)*
            $(#[doc = $idescription] $internal,)*
        }

        impl EventType {
            /// Every type a webhook can subscribe to and a service can
            /// publish, in the order the API lists them.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The wire name, such as `member.added`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                    $(EventType::$internal => $iname,)*
                }
            }

            /// One line saying when the event happens.
            pub fn description(self) -> &'static str {
                match self {
                    $(EventType::$variant => $description,)*
                    $(EventType::$internal => $idescription,)*
                }
            }
        }
    };
}

event_types! {
    subscribable {
    OrganizationCreated => "organization.created", "An organization was created.";
    OrganizationUpdated => "organization.updated", "An organization's name or settings changed.";
    OrganizationDeleted => "organization.deleted", "An organization was deleted.";
    MemberAdded => "member.added", "A user joined the organization.";
    MemberRemoved => "member.removed", "A user left or was removed from the organization.";
    MemberRoleUpdated => "member.role_updated", "A member's role changed.";
    InviteCreated => "invite.created", "Someone was invited to the organization.";
    InviteAccepted => "invite.accepted", "An invitation was accepted.";
    InviteCancelled => "invite.cancelled", "An invitation was withdrawn.";
    OauthAppCreated => "oauth_app.created", "An OAuth application was registered.";
    OauthAppRevoked => "oauth_app.revoked", "An OAuth application was revoked.";
    WebhookCreated => "webhook.created", "A webhook was registered.";
    WebhookDisabled => "webhook.disabled", "A webhook was disabled after failing for too long.";
    }
    internal {
    WebhookPing => "webhook.ping", "A test delivery asked for with SendTestEvent.";
    }
}

/// The name is not one of the event types. Only subscribable types parse:
/// `webhook.ping` is sent by the service itself, never subscribed to or published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {}", quoted(.0))]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// Reads a name stored by this service, `webhook.ping` included.
pub fn parse_stored(name: &str) -> Option<EventType> {
    name.parse()
        .ok()
        .or((name == EventType::WebhookPing.as_str()).then_some(EventType::WebhookPing))
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most names one subscription list may hold, duplicates included.
pub const MAX_LISTED: usize = 100;

/// The most unknown names one error quotes back; the rest are counted.
const MAX_UNKNOWN_QUOTED: usize = 5;

/// Parses a subscription list: at least one type and at most
/// [`MAX_LISTED`] names, all known, duplicates kept once in the order first
/// given.
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
    let mut events = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    for name in names {
        match name.as_ref().parse::<EventType>() {
            Ok(t) if !events.contains(&t) => events.push(t),
            Ok(_) => {}
            Err(_) => unknown.push(name.as_ref()),
        }
    }
    if unknown.is_empty() {
        return Ok(events);
    }
    let mut shown: Vec<String> = unknown
        .iter()
        .take(MAX_UNKNOWN_QUOTED)
        .map(|name| quoted(name))
        .collect();
    if unknown.len() > MAX_UNKNOWN_QUOTED {
        shown.push(format!("and {} more", unknown.len() - MAX_UNKNOWN_QUOTED));
    }
    let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    Err(format!(
        "unknown event type {}; known types are {}",
        shown.join(", "),
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_exactly_thirteen_types_and_each_name_round_trips() {
        assert_eq!(EventType::ALL.len(), 13);
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        }
    }

    #[test]
    fn names_are_exact() {
        assert!("Member.Added".parse::<EventType>().is_err());
        assert!(" member.added".parse::<EventType>().is_err());
        assert!("member.*".parse::<EventType>().is_err());
        assert!("webhook.ping".parse::<EventType>().is_err());
    }

    #[test]
    fn a_list_keeps_duplicates_once_in_first_order() {
        let list = parse_event_list(&["member.added", "invite.created", "member.added"]).unwrap();
        assert_eq!(list, vec![EventType::MemberAdded, EventType::InviteCreated]);
    }

    #[test]
    fn an_empty_list_or_an_unknown_name_is_rejected() {
        assert!(parse_event_list::<&str>(&[]).is_err());
        let err = parse_event_list(&["member.added", "member.exploded"]).unwrap_err();
        assert!(err.contains("\"member.exploded\""), "{err}");
    }

    #[test]
    fn a_list_is_bounded_and_its_error_quotes_five_names_at_most() {
        assert!(parse_event_list(&["member.added"; MAX_LISTED]).is_ok());
        let err = parse_event_list(&["member.added"; MAX_LISTED + 1]).unwrap_err();
        assert_eq!(err, "names 101 event types; at most 100 are accepted");
        let long = "x".repeat(10_000);
        let names: Vec<&str> = (0..MAX_LISTED).map(|_| long.as_str()).collect();
        let err = parse_event_list(&names).unwrap_err();
        assert!(err.contains(", and 95 more; known types are"), "{err}");
        assert!(err.len() < 600, "{} bytes: {err}", err.len());
    }
}
