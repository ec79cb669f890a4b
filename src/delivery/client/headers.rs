//! The headers a delivery carries: the webhook's own, then ours (ids,
//! timestamp, attempt, signatures, trace context), built once per attempt.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, InvalidHeaderValue};

use super::Request;
use crate::domain::headers::refused;

/// The webhook's own headers, then ours: inserted after them, ours replace
/// any of the same name. Names the API refuses are skipped too (a row
/// written before a rule existed, or by hand), so that none can stand in
/// for a header the client or the receiver relies on (`User-Agent` would
/// otherwise replace reqwest's default).
///
/// Built for the hot path: the map sized once, numbers and ids written on
/// the stack, each value copied once into its header (a signature moved in
/// whole), a value sent twice shared.
pub(super) fn signed_headers(request: &Request<'_>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(request.headers.len() + OUR_HEADERS);
    for (name, value) in request.headers {
        if refused(name.as_str()).is_none() {
            headers.insert(name.clone(), value.clone());
        }
    }
    let mut uuid = uuid::Uuid::encode_buffer();
    let id = &*request
        .event_id
        .as_uuid()
        .hyphenated()
        .encode_lower(&mut uuid);
    let mut decimal = itoa::Buffer::new();
    let timestamp = chrono::Utc::now().timestamp();
    let id_value = HeaderValue::from_str(id).expect("a UUID is a header value");
    let timestamp_value =
        HeaderValue::from_str(decimal.format(timestamp)).expect("digits are a header value");
    headers.insert("x-webhook-id", id_value.clone());
    if let Ok(value) = HeaderValue::from_str(request.event_type) {
        headers.insert("x-webhook-event", value);
    }
    headers.insert("x-webhook-timestamp", timestamp_value.clone());
    headers.insert(
        "x-webhook-attempt",
        HeaderValue::from_str(decimal.format(request.attempt)).expect("digits are a header value"),
    );
    if let Some(hex) = request.signer.hex_signature(request.body)
        && let Ok(value) = owned_value(hex)
    {
        headers.insert("x-webhook-signature", value);
    }
    headers.insert("webhook-id", id_value);
    headers.insert("webhook-timestamp", timestamp_value);
    let signatures = request
        .signer
        .standard_signatures(id, timestamp, request.body);
    if let Ok(value) = owned_value(signatures) {
        headers.insert("webhook-signature", value);
    }
    if let Some(trace) = request.trace {
        if let Ok(value) = HeaderValue::from_str(&trace.traceparent) {
            headers.insert("traceparent", value);
        }
        if let Some(state) = &trace.tracestate
            && let Ok(value) = HeaderValue::from_str(state)
        {
            headers.insert("tracestate", value);
        }
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// How many headers [`signed_headers`] adds at most.
const OUR_HEADERS: usize = 11;

/// `text` as a header value, its bytes moved rather than copied.
fn owned_value(text: String) -> Result<HeaderValue, InvalidHeaderValue> {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use reqwest::header::HeaderName;
    use url::Url;

    use super::*;
    use crate::delivery::signature::{Signer, hex_signature, standard_signature};
    use crate::domain::{EventId, SignatureScheme, TraceContext};

    #[test]
    fn a_custom_header_never_replaces_one_of_ours() {
        let url = Url::parse("https://example.com/hook").unwrap();
        let body: Arc<[u8]> = Arc::from(&b"{}"[..]);
        let secret = crate::domain::SigningSecret::generate();
        let custom: Vec<(HeaderName, HeaderValue)> = [
            ("x-webhook-id", "forged"),
            ("webhook-signature", "v1,forged"),
            ("content-type", "text/plain"),
            ("user-agent", "forged"),
            ("host", "elsewhere.example"),
            ("x-tenant", "a"),
            ("traceparent", "forged"),
        ]
        .into_iter()
        .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
        .collect();
        let event_id = EventId::generate();
        let trace = TraceContext {
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            tracestate: Some("vendor=1".into()),
        };
        let headers = signed_headers(&Request {
            url: &url,
            event_id,
            event_type: "member.added",
            attempt: 1,
            body: &body,
            signer: &Signer::new(SignatureScheme::HmacSha256, &secret, &[]),
            headers: &custom,
            identity: None,
            webhook_id: crate::domain::WebhookId::generate(),
            oauth2: None,
            trace: Some(&trace),
        });
        assert_eq!(headers["x-webhook-id"], event_id.to_string().as_str());
        assert_eq!(headers["traceparent"], trace.traceparent.as_str());
        assert_eq!(headers["tracestate"], "vendor=1");
        assert!(
            headers["webhook-signature"]
                .to_str()
                .unwrap()
                .starts_with("v1,")
        );
        assert_ne!(headers["webhook-signature"], "v1,forged");
        assert_eq!(headers["webhook-id"], headers["x-webhook-id"]);
        assert_eq!(headers["webhook-timestamp"], headers["x-webhook-timestamp"]);
        assert_eq!(headers["x-webhook-event"], "member.added");
        assert_eq!(headers["x-webhook-attempt"], "1");
        let timestamp: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let id = event_id.to_string();
        assert_eq!(
            headers["webhook-signature"],
            standard_signature(secret.expose(), &id, timestamp, &body)
                .unwrap()
                .as_str()
        );
        assert_eq!(
            headers["x-webhook-signature"],
            hex_signature(secret.expose(), &body).as_str()
        );
        assert_eq!(headers["content-type"], "application/json");
        // Left to the client: reqwest adds its default only when absent.
        assert!(!headers.contains_key("user-agent"));
        assert!(!headers.contains_key("host"));
        assert_eq!(headers["x-tenant"], "a");
        for name in [
            "x-webhook-id",
            "webhook-signature",
            "content-type",
            "x-tenant",
        ] {
            assert_eq!(headers.get_all(name).iter().count(), 1, "{name}");
        }
    }
}
