//! Proto well-known values made from and read as plain Rust and JSON.

use super::*;

/// `value`, a JSON object, as the `Struct` a client sends.
pub fn to_struct(value: Value) -> pbjson_types::Struct {
    serde_json::from_value(value).expect("data must be a JSON object")
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
