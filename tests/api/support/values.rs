//! Proto well-known values made from and read as plain Rust and JSON.

use super::*;

pub fn to_struct(value: Value) -> pbjson_types::Struct {
    let Value::Object(map) = value else {
        panic!("data must be a JSON object");
    };
    pbjson_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

fn to_value(value: Value) -> pbjson_types::Value {
    use pbjson_types::value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(pbjson_types::ListValue {
            values: a.into_iter().map(to_value).collect(),
        }),
        object @ Value::Object(_) => Kind::StructValue(to_struct(object)),
    };
    pbjson_types::Value { kind: Some(kind) }
}

/// `Some(FieldMask)` naming `paths`.
pub fn field_mask(paths: &[&str]) -> Option<pbjson_types::FieldMask> {
    Some(pbjson_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// A proto timestamp as a chrono time; panics when it is absent.
pub fn time(
    timestamp: &Option<webhook_service::grpc::timestamp::Timestamp>,
) -> chrono::DateTime<chrono::Utc> {
    let t = timestamp.as_ref().expect("timestamp set");
    chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32).expect("valid timestamp")
}
