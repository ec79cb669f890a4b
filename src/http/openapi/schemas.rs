//! JSON Schemas of the proto messages in their proto3 JSON mapping, from
//! the descriptors: camelCase properties, enums as their names, 64-bit
//! integers as strings, and the well-known types as the mapping writes them;
//! with the facts the descriptors lack (`facts`): UUIDs, event type names,
//! required fields, short component names.

use std::collections::{BTreeMap, BTreeSet};

use prost_types::field_descriptor_proto::Type;
use serde_json::{Map, Value, json};

use super::facts::{self, ALWAYS_IN_RESPONSES, EVENT_TYPE_NOTE, StringKind};
use crate::http::descriptor::{Descriptors, FieldKind, FieldShape};

/// Component schemas, written as they are referred to.
pub struct Schemas<'a> {
    descriptors: &'a Descriptors,
    /// Messages and enums referred to, by full name.
    referred: BTreeSet<String>,
}

impl<'a> Schemas<'a> {
    pub fn new(descriptors: &'a Descriptors) -> Self {
        Self {
            descriptors,
            referred: BTreeSet::new(),
        }
    }

    /// The schema of the message `name` where it is used: a reference to
    /// its component, or the JSON form of a well-known type.
    pub fn message(&mut self, name: &str) -> Value {
        if let Some(schema) = well_known(name) {
            return schema;
        }
        self.refer(name)
    }

    /// The schema of one field of `message`, with the field's comment.
    pub fn field(&mut self, message: &str, field: &FieldShape) -> Value {
        let kind = facts::string_kind(message, field);
        let mut schema = self.field_value(field, kind);
        let mut description = field.comment.clone();
        if kind == Some(StringKind::EventType) {
            description = format!("{description}\n\n{EVENT_TYPE_NOTE}");
        }
        let description = description.trim();
        if !description.is_empty()
            && let Value::Object(schema) = &mut schema
        {
            schema.insert("description".into(), description.into());
        }
        schema
    }

    /// An object with `fields` of `message` as its properties, the `required`
    /// ones (by proto name) listed as such; no others with `closed`.
    pub fn object<'f>(
        &mut self,
        message: &str,
        description: &str,
        fields: impl IntoIterator<Item = &'f FieldShape>,
        required: &[&str],
        closed: bool,
    ) -> Value {
        let mut required_names = Vec::new();
        let mut properties = Map::new();
        for field in fields {
            if required.contains(&field.name.as_str()) {
                required_names.push(field.json_name.clone());
            }
            properties.insert(field.json_name.clone(), self.field(message, field));
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if !description.is_empty() {
            schema["description"] = description.into();
        }
        if !required_names.is_empty() {
            schema["required"] = required_names.into();
        }
        if closed {
            schema["additionalProperties"] = false.into();
        }
        schema
    }

    /// Every component referred to so far, and those they refer to, by
    /// their short names.
    pub fn components(mut self) -> BTreeMap<String, Value> {
        let mut written = BTreeMap::new();
        while let Some(name) = self.referred.iter().find(|n| !written.contains_key(*n)) {
            let name = name.clone();
            let schema = if let Some(enumeration) = self.descriptors.enums.get(&name) {
                let mut description = enumeration.comment.clone();
                for (value, comment) in &enumeration.values {
                    description.push_str(&format!("\n- `{value}`: {comment}"));
                }
                let names: Vec<&str> = enumeration.values.iter().map(|(v, _)| v.as_str()).collect();
                json!({"type": "string", "enum": names, "description": description.trim()})
            } else {
                let descriptors = self.descriptors;
                let message = descriptors.message(&name);
                // Components describe answers: requests are inline objects.
                let always = facts::listed(&ALWAYS_IN_RESPONSES, &name);
                self.object(&name, &message.comment, &message.fields, always, false)
            };
            written.insert(name, schema);
        }
        written
            .into_iter()
            .map(|(name, schema)| (facts::short_name(&name), schema))
            .collect()
    }

    /// `#/components/schemas/<short name>`, written later.
    pub fn refer(&mut self, name: &str) -> Value {
        self.referred.insert(name.to_owned());
        json!({"$ref": format!("#/components/schemas/{}", facts::short_name(name))})
    }

    fn field_value(&mut self, field: &FieldShape, kind: Option<StringKind>) -> Value {
        if let FieldKind::Message(name) = &field.kind {
            let entry = self.descriptors.message(name);
            if entry.map_entry {
                let value = entry.fields.iter().find(|f| f.name == "value");
                let value = value.expect("a map entry has a value field");
                return json!({"type": "object", "additionalProperties": self.kind(&value.kind)});
            }
        }
        let item = match kind {
            Some(kind) => facts::string_schema(kind),
            None => self.kind(&field.kind),
        };
        if field.repeated {
            json!({"type": "array", "items": item})
        } else {
            item
        }
    }

    fn kind(&mut self, kind: &FieldKind) -> Value {
        match kind {
            FieldKind::Scalar(scalar) => scalar_schema(*scalar),
            FieldKind::Enum(name) => self.refer(name),
            FieldKind::Message(name) => self.message(name),
        }
    }
}

fn scalar_schema(scalar: Type) -> Value {
    match scalar {
        Type::Double => json!({"type": "number", "format": "double"}),
        Type::Float => json!({"type": "number", "format": "float"}),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Type::Uint32 | Type::Fixed32 => {
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
        }
        // 64-bit integers are strings in JSON: a double cannot hold them.
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"})
        }
        Type::Uint64 | Type::Fixed64 => {
            json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"})
        }
        Type::Bool => json!({"type": "boolean"}),
        Type::String => json!({"type": "string"}),
        Type::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        // Resolved to their own kinds by the descriptor reader.
        Type::Message | Type::Group | Type::Enum => json!({}),
    }
}

/// The JSON form of a well-known type, which has no component of its own.
fn well_known(name: &str) -> Option<Value> {
    let wrapper = |t: &str| json!({"type": [t, "null"]});
    Some(match name {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => json!({
            "type": "string",
            "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
            "description": "Seconds with an `s` suffix, such as `1.5s`.",
        }),
        "google.protobuf.FieldMask" => json!({
            "type": "string",
            "description": "Comma-separated field names, such as `url,events`.",
        }),
        "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "required": ["@type"],
        }),
        "google.protobuf.StringValue" | "google.protobuf.BytesValue" => wrapper("string"),
        "google.protobuf.BoolValue" => wrapper("boolean"),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => wrapper("integer"),
        "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => wrapper("number"),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => wrapper("string"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::descriptor::descriptors;

    #[test]
    fn messages_become_camel_case_objects_with_well_known_types_inline() {
        let mut schemas = Schemas::new(descriptors());
        assert_eq!(
            schemas.message("webhooks.v1.Webhook"),
            json!({"$ref": "#/components/schemas/Webhook"})
        );
        let components = schemas.components();
        let webhook = &components["Webhook"];
        assert_eq!(webhook["type"], "object");
        assert_eq!(webhook["properties"]["createdAt"]["format"], "date-time");
        assert_eq!(webhook["properties"]["id"]["format"], "uuid");
        assert_eq!(webhook["properties"]["events"]["items"]["type"], "string");
        assert!(webhook["properties"]["events"]["items"]["pattern"].is_string());
        assert!(
            webhook["required"]
                .as_array()
                .unwrap()
                .contains(&json!("createdAt"))
        );
        assert!(
            !webhook["required"]
                .as_array()
                .unwrap()
                .contains(&json!("enabled"))
        );
        assert_eq!(webhook["properties"]["rateLimitPerSecond"]["minimum"], 0);
        assert!(webhook["properties"].get("created_at").is_none());
    }

    #[test]
    fn enums_are_their_names_and_maps_are_objects() {
        let mut schemas = Schemas::new(descriptors());
        schemas.message("webhooks.v1.Delivery");
        schemas.message("google.rpc.ErrorInfo");
        let components = schemas.components();
        let status = &components["DeliveryStatus"];
        assert_eq!(status["type"], "string");
        assert_eq!(status["enum"][2], "DELIVERY_STATUS_SUCCEEDED");
        let metadata = &components["ErrorInfo"]["properties"]["metadata"];
        assert_eq!(metadata["additionalProperties"]["type"], "string");
        assert!(!components.contains_key("ErrorInfoMetadataEntry"));
    }
}
