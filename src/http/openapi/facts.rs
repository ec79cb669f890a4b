//! What the descriptors do not say and the OpenAPI document should: which
//! strings are UUIDs or event type names, which fields a request must
//! carry, which a response always carries, and each component's short
//! name. The tables name messages and fields by their proto names; a unit
//! test checks that every one exists, so that a renamed field fails the
//! build's tests instead of quietly losing its facts.

use serde_json::{Value, json};

use crate::domain::EventType;
use crate::domain::event_type::MAX_NAME;
use crate::http::descriptor::{FieldKind, FieldShape};

/// What a string field holds, beyond being a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringKind {
    /// An id the service gave: a UUID.
    Uuid,
    /// The name of an event type of the catalogue.
    EventType,
}

/// The package whose string fields named `id` or `*_id` are UUIDs.
const API_PACKAGE: &str = "webhooks.v1.";

/// The fields (message, field) that hold event type names, alone or in a
/// list.
const EVENT_TYPE_FIELDS: [(&str, &str); 11] = [
    ("webhooks.v1.CreateWebhookRequest", "events"),
    ("webhooks.v1.Webhook", "events"),
    ("webhooks.v1.UpdateWebhookRequest", "events"),
    ("webhooks.v1.Delivery", "event_type"),
    ("webhooks.v1.ListDeliveriesRequest", "event_type"),
    ("webhooks.v1.PublishEventRequest", "type"),
    ("webhooks.v1.TestWebhookFilterRequest", "type"),
    ("webhooks.v1.GetEventTypeRequest", "name"),
    ("webhooks.v1.CreateEventTypeRequest", "name"),
    ("webhooks.v1.UpdateEventTypeRequest", "name"),
    ("webhooks.v1.EventTypeInfo", "name"),
];

/// The body fields each request must carry: the call is INVALID_ARGUMENT
/// without them (path fields are required by the path itself).
pub const REQUIRED_IN_REQUESTS: [(&str, &[&str]); 7] = [
    ("webhooks.v1.CreateWebhookRequest", &["url", "events"]),
    ("webhooks.v1.UpdateWebhookRequest", &["update_mask"]),
    ("webhooks.v1.RecoverWebhookRequest", &["since"]),
    ("webhooks.v1.CreateEventTypeRequest", &["name"]),
    ("webhooks.v1.UpdateEventTypeRequest", &["update_mask"]),
    // No `data` is an empty object.
    ("webhooks.v1.PublishEventRequest", &["type"]),
    ("webhooks.v1.TestWebhookFilterRequest", &["type"]),
];

/// The fields each response message always carries. The proto3 JSON
/// mapping leaves out a field at its default value (0, false, "", an empty
/// list, an unset time), so only fields that never hold one are here: ids,
/// names, creation times, a webhook's at-least-one event type.
pub const ALWAYS_IN_RESPONSES: [(&str, &[&str]); 10] = [
    (
        "webhooks.v1.Webhook",
        &[
            "id",
            "organization_id",
            "url",
            "events",
            "created_at",
            "updated_at",
        ],
    ),
    ("webhooks.v1.CreateWebhookResponse", &["webhook", "secret"]),
    (
        "webhooks.v1.RotateWebhookSecretResponse",
        &["webhook", "secret", "previous_secret_expires_at"],
    ),
    (
        "webhooks.v1.Delivery",
        &[
            "id",
            "organization_id",
            "webhook_id",
            "event_id",
            "event_type",
            "status",
            "created_at",
            "updated_at",
        ],
    ),
    ("webhooks.v1.DeliveryAttempt", &["attempt", "started_at"]),
    (
        "webhooks.v1.SendTestEventResponse",
        &["delivery_id", "event_id"],
    ),
    (
        "webhooks.v1.EventTypeInfo",
        &["name", "create_time", "update_time"],
    ),
    ("webhooks.v1.PublishEventResponse", &["event_id"]),
    (
        "webhooks.v1.CreatePortalLinkResponse",
        &["url", "expires_at"],
    ),
    // Every error the REST face answers has a code and says why.
    ("google.rpc.Status", &["code", "message"]),
];

/// What `field` of `message` holds, when it is more than a string.
pub fn string_kind(message: &str, field: &FieldShape) -> Option<StringKind> {
    if field.kind != FieldKind::Scalar(prost_types::field_descriptor_proto::Type::String) {
        return None;
    }
    if EVENT_TYPE_FIELDS.contains(&(message, field.name.as_str())) {
        return Some(StringKind::EventType);
    }
    let is_id = field.name == "id" || field.name.ends_with("_id");
    (message.starts_with(API_PACKAGE) && is_id).then_some(StringKind::Uuid)
}

/// The schema of one string of `kind`.
pub fn string_schema(kind: StringKind) -> Value {
    match kind {
        StringKind::Uuid => json!({"type": "string", "format": "uuid"}),
        StringKind::EventType => {
            let examples: Vec<String> = EventType::built_in()
                .map(|t| t.as_str().to_owned())
                .collect();
            json!({
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_NAME,
                // The rule of `EventType::parse`: a lowercase letter first,
                // no empty part between dots.
                "pattern": "^[a-z][a-z0-9_-]*(\\.[a-z0-9_-]+)*$",
                "examples": examples,
            })
        }
    }
}

/// What the description of an event type field adds, once, where the
/// field's own comment may not say it.
pub const EVENT_TYPE_NOTE: &str = "An event type name: a type of the catalogue \
(ListEventTypes), built-in or added by the platform. The catalogue is open, so \
this is not an enumeration; the examples are the built-in types.";

/// The fields of `message` in `table`, by proto name.
pub fn listed<'t>(table: &'t [(&str, &[&str])], message: &str) -> &'t [&'t str] {
    table
        .iter()
        .find(|(name, _)| *name == message)
        .map_or(&[], |(_, fields)| fields)
}

/// The component name of a message or enum: its name without the package,
/// nested names joined (`google.rpc.BadRequest.FieldViolation` →
/// `BadRequestFieldViolation`), as generators name their classes.
pub fn short_name(full_name: &str) -> String {
    let package = ["webhooks.v1.", "google.rpc."]
        .iter()
        .find_map(|p| full_name.strip_prefix(p));
    package.unwrap_or(full_name).replace('.', "")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::http::descriptor::descriptors;

    #[test]
    fn every_field_the_tables_name_exists() {
        let descriptors = descriptors();
        let tables = [&REQUIRED_IN_REQUESTS[..], &ALWAYS_IN_RESPONSES[..]];
        let named = tables
            .iter()
            .flat_map(|t| t.iter())
            .flat_map(|(m, fields)| fields.iter().map(move |f| (*m, *f)))
            .chain(EVENT_TYPE_FIELDS);
        for (message, field) in named {
            let shape = descriptors.message(message);
            assert!(
                shape.fields.iter().any(|f| f.name == field),
                "{message} has no field {field}"
            );
        }
    }

    #[test]
    fn short_names_are_unique() {
        let descriptors = descriptors();
        let mut seen = BTreeMap::new();
        for name in descriptors.messages.keys().chain(descriptors.enums.keys()) {
            if name.starts_with("google.protobuf.") {
                continue;
            }
            if let Some(other) = seen.insert(short_name(name), name) {
                panic!("{name} and {other} share the name {}", short_name(name));
            }
        }
        assert_eq!(short_name("webhooks.v1.Webhook"), "Webhook");
        assert_eq!(
            short_name("google.rpc.BadRequest.FieldViolation"),
            "BadRequestFieldViolation"
        );
    }

    #[test]
    fn ids_are_uuids_and_event_types_documented_strings() {
        let webhook = descriptors().message("webhooks.v1.Webhook");
        let field = |name: &str| webhook.fields.iter().find(|f| f.name == name).unwrap();
        let kind = |name| string_kind("webhooks.v1.Webhook", field(name));
        assert_eq!(kind("id"), Some(StringKind::Uuid));
        assert_eq!(kind("organization_id"), Some(StringKind::Uuid));
        assert_eq!(kind("events"), Some(StringKind::EventType));
        assert_eq!(kind("url"), None);

        let schema = string_schema(StringKind::EventType);
        let pattern = schema["pattern"].as_str().unwrap();
        assert!(schema.get("enum").is_none());
        // The pattern and EventType::parse agree on these.
        for name in ["member.added", "a", "invoice.paid-v2", "x_1.y-2.z"] {
            assert!(EventType::parse(name).is_ok(), "{name}");
            assert!(matches_pattern(pattern, name), "{name}");
        }
        for name in ["", "Member.added", "1a", "a..b", "a.", ".a", "a b"] {
            assert!(EventType::parse(name).is_err(), "{name}");
            assert!(!matches_pattern(pattern, name), "{name}");
        }
    }

    /// The pattern, checked the way a JSON Schema validator checks it.
    fn matches_pattern(pattern: &str, name: &str) -> bool {
        let schema = json!({"type": "string", "pattern": pattern});
        jsonschema::validator_for(&schema)
            .unwrap()
            .is_valid(&json!(name))
    }
}
