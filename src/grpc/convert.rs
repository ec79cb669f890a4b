//! proto <-> domain conversions.

use chrono::{DateTime, Utc};

use prost_types::value::Kind;
use serde_json::Value;

use super::proto;
use crate::domain::Webhook;
use crate::service::{CreateWebhook, PublishEvent};

impl From<proto::PublishEventRequest> for PublishEvent {
    fn from(r: proto::PublishEventRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            event_type: r.r#type,
            data: r
                .data
                .map_or_else(|| Value::Object(Default::default()), from_struct),
            idempotency_key: r.idempotency_key,
        }
    }
}

fn from_struct(s: prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, from_value(v)))
            .collect(),
    )
}

fn from_value(v: prost_types::Value) -> Value {
    match v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) => number(n),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.into_iter().map(from_value).collect())
        }
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}

/// Struct numbers are doubles; whole ones are written without a fraction,
/// as the publisher most likely sent them.
fn number(n: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() <= EXACT {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

impl From<proto::CreateWebhookRequest> for CreateWebhook {
    fn from(r: proto::CreateWebhookRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            url: r.url,
            events: r.events,
        }
    }
}

impl From<Webhook> for proto::Webhook {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id.to_string(),
            organization_id: w.organization_id.to_string(),
            url: w.url.as_str().to_owned(),
            events: w.events.iter().map(|e| e.as_str().to_owned()).collect(),
            created_at: Some(timestamp(w.created_at)),
        }
    }
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_numbers_keep_whole_values_whole() {
        assert_eq!(number(42.0), serde_json::json!(42));
        assert_eq!(number(-3.0), serde_json::json!(-3));
        assert_eq!(number(1.5), serde_json::json!(1.5));
        assert_eq!(number(f64::NAN), Value::Null);
    }
}
