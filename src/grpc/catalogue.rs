//! proto <-> domain conversions of the event catalogue.

use serde_json::Value;

use super::convert::{from_struct, timestamp};
use super::proto;
use crate::domain::EventTypeDef;
use crate::service::{CreateEventType, ListEventTypes, UpdateEventType};

impl From<proto::ListEventTypesRequest> for ListEventTypes {
    fn from(r: proto::ListEventTypesRequest) -> Self {
        Self {
            page_size: r.page_size,
            page_token: r.page_token,
            include_archived: r.include_archived,
        }
    }
}

impl From<proto::CreateEventTypeRequest> for CreateEventType {
    fn from(r: proto::CreateEventTypeRequest) -> Self {
        Self {
            name: r.name,
            description: r.description,
            schema: r.schema.map(from_struct),
            example: r.example.map(from_struct),
            deprecated: r.deprecated,
        }
    }
}

impl From<proto::UpdateEventTypeRequest> for UpdateEventType {
    fn from(r: proto::UpdateEventTypeRequest) -> Self {
        Self {
            name: r.name,
            description: r.description,
            schema: r.schema.map(from_struct),
            example: r.example.map(from_struct),
            deprecated: r.deprecated,
            archived: r.archived,
            mask: r.update_mask.map(|m| m.paths).unwrap_or_default(),
        }
    }
}

impl From<EventTypeDef> for proto::EventTypeInfo {
    fn from(t: EventTypeDef) -> Self {
        Self {
            name: t.name.as_str().to_owned(),
            description: t.description,
            schema: t.schema.and_then(to_struct),
            example: t.example.and_then(to_struct),
            deprecated: t.deprecated,
            archived: t.archived,
            built_in: t.built_in,
            create_time: Some(timestamp(t.created_at)),
            update_time: Some(timestamp(t.updated_at)),
        }
    }
}

/// A stored JSON object as a Struct, through pbjson's own JSON mapping.
/// Only objects were ever accepted, so none is lost.
fn to_struct(value: Value) -> Option<pbjson_types::Struct> {
    serde_json::from_value(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_object_round_trips_through_a_struct() {
        let value = serde_json::json!({"type": "object", "required": ["a"], "maximum": 3});
        let back = from_struct(to_struct(value.clone()).unwrap());
        assert_eq!(back, value);
    }
}
