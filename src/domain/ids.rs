//! Typed ids, so an organization id can never be passed where a webhook id is
//! expected.

use chrono::{DateTime, Utc};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID read from a trusted place (the store, a verified token).
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// Parses the textual form of a UUID given by a caller.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| InvalidId)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// The id of an organization: a UUID given by the service that owns organizations.
    OrganizationId
);
uuid_id!(
    /// The id of a webhook, given by this service at creation.
    WebhookId
);

uuid_id!(
    /// The id of an event; receivers dedupe on it, as it stays the same on every retry.
    EventId
);
uuid_id!(
    /// The id of one event's delivery to one webhook.
    DeliveryId
);

macro_rules! generated {
    ($($name:ident),*) => {$(
        impl $name {
            /// A new id; v7, so ids sort by creation time.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }
    )*};
}

generated!(WebhookId, EventId, DeliveryId);

impl DeliveryId {
    /// A new v7 id whose time is `at`'s millisecond: the store writes that
    /// millisecond as the delivery's `created_at`, so a range of creation
    /// times is a range of ids (see [`super::created_range`]). Within one
    /// millisecond ids are random, not in order.
    pub fn generate_at(at: DateTime<Utc>) -> Self {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        let timestamp = uuid::Timestamp::from_unix(
            uuid::NoContext,
            millis / 1_000,
            (millis % 1_000) as u32 * 1_000_000,
        );
        Self(Uuid::new_v7(timestamp))
    }
}

/// A caller's id was not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a UUID, such as 0b7e2d5c-8a4f-4c2e-9f61-3d2a1b0c9e8d")]
pub struct InvalidId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_uuid_and_rejects_anything_else() {
        let id = OrganizationId::parse("0b7e2d5c-8a4f-4c2e-9f61-3d2a1b0c9e8d").unwrap();
        assert_eq!(id.to_string(), "0b7e2d5c-8a4f-4c2e-9f61-3d2a1b0c9e8d");
        assert_eq!(OrganizationId::parse(""), Err(InvalidId));
        assert_eq!(OrganizationId::parse("org-1"), Err(InvalidId));
    }
}
