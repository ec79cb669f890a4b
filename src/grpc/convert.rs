//! proto <-> domain conversions.

use chrono::{DateTime, Utc};

use pbjson_types::value::Kind;
use serde_json::Value;

use super::convert_certificates::certificate_from_wire;
use super::headers::{headers_from_wire, headers_to_wire};
use super::proto::{self, DeliveryStatus as WireStatus};
use super::signing::{public_key_to_wire, scheme_from_wire, scheme_to_wire};
use crate::domain::{
    Attempt, Delivery, DeliveryStatus, Ordering, Webhook, WebhookStats, clock, error_summary,
};
use crate::domain::{OAuth2Fields, OAuth2Settings};
use crate::service::{
    CreatePortalLink, CreateWebhook, DeliveryRef, ListDeliveries, ListWebhooks, PublishEvent,
    RecoverWebhook, StatusFilter, TestWebhookFilter, UpdateWebhook, WebhookRef,
};

impl From<proto::CreatePortalLinkRequest> for CreatePortalLink {
    fn from(r: proto::CreatePortalLinkRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            ttl: r.ttl.map(|d| (d.seconds, d.nanos)),
        }
    }
}

impl From<proto::ListWebhooksRequest> for ListWebhooks {
    fn from(r: proto::ListWebhooksRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            page_size: r.page_size,
            page_token: r.page_token,
        }
    }
}

macro_rules! webhook_ref {
    ($($request:ty),*) => {$(
        impl From<$request> for WebhookRef {
            fn from(r: $request) -> Self {
                Self {
                    organization_id: r.organization_id,
                    webhook_id: r.webhook_id,
                }
            }
        }
    )*};
}

webhook_ref!(
    proto::GetWebhookRequest,
    proto::GetWebhookStatsRequest,
    proto::DeleteWebhookRequest,
    proto::RotateWebhookSecretRequest,
    proto::SendTestEventRequest
);

impl From<proto::GetDeliveryRequest> for DeliveryRef {
    fn from(r: proto::GetDeliveryRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            delivery_id: r.delivery_id,
        }
    }
}

impl From<proto::RetryDeliveryRequest> for DeliveryRef {
    fn from(r: proto::RetryDeliveryRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            delivery_id: r.delivery_id,
        }
    }
}

impl From<proto::UpdateWebhookRequest> for UpdateWebhook {
    fn from(r: proto::UpdateWebhookRequest) -> Self {
        Self {
            webhook: WebhookRef {
                organization_id: r.organization_id,
                webhook_id: r.webhook_id,
            },
            url: r.url,
            events: r.events,
            enabled: r.enabled,
            description: r.description,
            rate_limit_per_second: r.rate_limit_per_second,
            filter: r.filter,
            ordering: ordering_from_wire(r.ordering),
            retry_schedule: steps_from_wire(&r.retry_schedule),
            headers: headers_from_wire(r.headers),
            client_certificate: certificate_from_wire(r.client_certificate),
            oauth2: r.oauth2.map(oauth2_from_wire),
            mask: r.update_mask.map(|m| m.paths).unwrap_or_default(),
        }
    }
}

impl From<proto::RecoverWebhookRequest> for RecoverWebhook {
    fn from(r: proto::RecoverWebhookRequest) -> Self {
        let since = r
            .since
            .map_or_else(|| Err("is required".to_owned()), given_time);
        Self {
            webhook: WebhookRef {
                organization_id: r.organization_id,
                webhook_id: r.webhook_id,
            },
            since,
        }
    }
}

impl From<proto::ListDeliveriesRequest> for ListDeliveries {
    fn from(r: proto::ListDeliveriesRequest) -> Self {
        let status = match WireStatus::try_from(r.status) {
            Ok(WireStatus::Unspecified) => StatusFilter::Any,
            Ok(WireStatus::Pending) => StatusFilter::Is(DeliveryStatus::Pending),
            Ok(WireStatus::Succeeded) => StatusFilter::Is(DeliveryStatus::Succeeded),
            Ok(WireStatus::Failed) => StatusFilter::Is(DeliveryStatus::Failed),
            Ok(WireStatus::Cancelled) => StatusFilter::Is(DeliveryStatus::Cancelled),
            Err(_) => StatusFilter::Unknown(r.status),
        };
        Self {
            organization_id: r.organization_id,
            webhook_id: r.webhook_id,
            status,
            event_type: r.event_type,
            page_size: r.page_size,
            page_token: r.page_token,
            created_at_or_after: r.created_at_or_after.map(given_time),
            created_before: r.created_before.map(given_time),
        }
    }
}

/// A caller's timestamp as a time, or why it is none; the service checks
/// that it lies in years 1 to 9999.
fn given_time(t: super::timestamp::Timestamp) -> Result<DateTime<Utc>, String> {
    match u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000) {
        None => Err("is not a valid timestamp: nanos must be 0 to 999,999,999".to_owned()),
        // Beyond what chrono holds is beyond the range too.
        Some(nanos) => {
            DateTime::from_timestamp(t.seconds, nanos).ok_or_else(|| clock::OutOfRange.to_string())
        }
    }
}

fn wire_status(status: DeliveryStatus) -> WireStatus {
    match status {
        DeliveryStatus::Pending => WireStatus::Pending,
        DeliveryStatus::Succeeded => WireStatus::Succeeded,
        DeliveryStatus::Failed => WireStatus::Failed,
        DeliveryStatus::Cancelled => WireStatus::Cancelled,
    }
}

impl From<Delivery> for proto::Delivery {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            organization_id: d.organization_id.to_string(),
            webhook_id: d.webhook_id.to_string(),
            event_id: d.event_id.to_string(),
            event_type: d.event_type,
            status: wire_status(d.status) as i32,
            attempt_count: d.attempt_count.try_into().unwrap_or(i32::MAX),
            next_attempt_at: d.next_attempt_at.map(timestamp),
            last_error_summary: d
                .last_error
                .as_deref()
                .and_then(error_summary::summarize)
                .unwrap_or_default(),
            last_error: d.last_error.unwrap_or_default(),
            created_at: Some(timestamp(d.created_at)),
            updated_at: Some(timestamp(d.updated_at)),
            attempts: d.attempts.into_iter().map(Into::into).collect(),
            payload: d.payload.unwrap_or_default(),
            labels: d.labels.into_iter().collect(),
        }
    }
}

impl From<Attempt> for proto::DeliveryAttempt {
    fn from(a: Attempt) -> Self {
        Self {
            attempt: a.number.try_into().unwrap_or(i32::MAX),
            started_at: Some(timestamp(a.started_at)),
            duration_ms: a.duration_ms.try_into().unwrap_or(i32::MAX),
            status_code: a.status_code.map(i32::from),
            error_kind: a.error_kind.unwrap_or_default(),
            error_message: a.error_message.unwrap_or_default(),
            response_excerpt: a.response_excerpt.unwrap_or_default(),
        }
    }
}

impl From<proto::PublishEventRequest> for PublishEvent {
    fn from(r: proto::PublishEventRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            event_type: r.r#type,
            data: r
                .data
                .map_or_else(|| Value::Object(Default::default()), from_struct),
            idempotency_key: r.idempotency_key,
            labels: r.labels.into_iter().collect(),
            ordering_key: r.ordering_key,
        }
    }
}

impl From<proto::TestWebhookFilterRequest> for TestWebhookFilter {
    fn from(r: proto::TestWebhookFilterRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            webhook_id: r.webhook_id,
            filter: r.filter,
            event_type: r.r#type,
            labels: r.labels.into_iter().collect(),
            data: r
                .data
                .map_or_else(|| Value::Object(Default::default()), from_struct),
        }
    }
}

pub(super) fn from_struct(s: pbjson_types::Struct) -> Value {
    Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, from_value(v)))
            .collect(),
    )
}

fn from_value(v: pbjson_types::Value) -> Value {
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
            description: r.description,
            rate_limit_per_second: r.rate_limit_per_second,
            filter: r.filter,
            ordering: ordering_from_wire(r.ordering),
            retry_schedule: steps_from_wire(&r.retry_schedule),
            headers: headers_from_wire(r.headers),
            client_certificate: certificate_from_wire(r.client_certificate),
            signature_scheme: scheme_from_wire(r.signature_scheme),
            oauth2: r.oauth2.map(oauth2_from_wire),
        }
    }
}

/// OAuth2 credentials as the wire carries them, checked in the domain.
fn oauth2_from_wire(c: proto::OAuth2ClientCredentials) -> OAuth2Fields {
    OAuth2Fields {
        token_url: c.token_url,
        client_id: c.client_id,
        client_secret: c.client_secret,
        scopes: c.scopes,
        audience: c.audience,
    }
}

fn oauth2_to_wire(s: OAuth2Settings) -> proto::OAuth2Info {
    proto::OAuth2Info {
        token_url: s.token_url.as_str().to_owned(),
        client_id: s.client_id,
        scopes: s.scopes,
        audience: s.audience.unwrap_or_default(),
    }
}

/// A retry schedule as the wire carries it, checked in the domain.
fn steps_from_wire(steps: &[pbjson_types::Duration]) -> Vec<(i64, i32)> {
    steps.iter().map(|d| (d.seconds, d.nanos)).collect()
}

/// An ordering the wire carried; `Err` with the number when it is none.
pub(super) fn ordering_from_wire(value: i32) -> Result<Ordering, i32> {
    match proto::Ordering::try_from(value) {
        Ok(proto::Ordering::Unordered) => Ok(Ordering::Unordered),
        Ok(proto::Ordering::Ordered) => Ok(Ordering::Ordered),
        Err(_) => Err(value),
    }
}

fn ordering_to_wire(ordering: Ordering) -> proto::Ordering {
    match ordering {
        Ordering::Unordered => proto::Ordering::Unordered,
        Ordering::Ordered => proto::Ordering::Ordered,
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
            description: w.description,
            enabled: w.enabled,
            updated_at: Some(timestamp(w.updated_at)),
            failing_since: w.failing_since.map(timestamp),
            disabled_reason: w
                .disabled
                .as_ref()
                .map(|d| d.reason.clone())
                .unwrap_or_default(),
            disabled_at: w.disabled.map(|d| timestamp(d.at)),
            rate_limit_per_second: w.rate_limit_per_second,
            filter: w.filter.unwrap_or_default(),
            ordering: ordering_to_wire(w.ordering).into(),
            retry_schedule: w
                .retry_schedule
                .iter()
                .flat_map(|s| s.steps())
                .map(|d| pbjson_types::Duration {
                    seconds: d.as_secs() as i64,
                    nanos: d.subsec_nanos() as i32,
                })
                .collect(),
            headers: headers_to_wire(w.headers),
            client_certificate: w.client_certificate.map(Into::into),
            signature_scheme: scheme_to_wire(w.signature_scheme).into(),
            public_key: public_key_to_wire(w.public_key.as_ref()),
            oauth2: w.oauth2.map(oauth2_to_wire),
        }
    }
}

pub(super) fn timestamp(t: DateTime<Utc>) -> super::timestamp::Timestamp {
    t.into()
}

impl From<WebhookStats> for proto::WebhookStats {
    fn from(s: WebhookStats) -> Self {
        Self {
            window_start: Some(timestamp(s.window_start)),
            succeeded: s.succeeded,
            failed: s.failed,
            pending: s.pending,
            cancelled: s.cancelled,
            capped: s.capped,
            last_delivery: s.last_delivery.map(Into::into),
        }
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
