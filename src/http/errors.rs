//! Errors as REST callers see them: an HTTP status, and a JSON
//! `google.rpc.Status` body `{code, message, details}` whose details carry
//! their `@type`, as grpc-gateway and Google's APIs answer.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use prost::Message;
use serde_json::Value;
use tonic::Code;

use super::descriptor::json_name;

/// `google.rpc.Status` and the standard error details, with their JSON
/// mapping.
mod pb {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    include!(concat!(env!("OUT_DIR"), "/google.rpc.serde.rs"));
}

/// The descriptors of `google.rpc`, for the OpenAPI document.
pub const GOOGLE_RPC_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/google_rpc_descriptor.bin"));

/// The type URL prefix of every detail.
const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// The most characters of a library's words about the caller's input put
/// in an error message: they may quote that input, of any length.
const MAX_QUOTED_TEXT: usize = 200;

/// `text`, cut after [`MAX_QUOTED_TEXT`] characters (marked with `…`).
pub fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED_TEXT) {
        None => text.into(),
        Some((end, _)) => format!("{}…", &text[..end]).into(),
    }
}

/// The HTTP status of a gRPC code, as grpc-gateway maps it.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // nginx's "client closed request".
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failed REST call: what the RPC answered, or why the request never
/// became one.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Code,
    message: String,
    /// Each detail in the JSON mapping of `Any`: its fields and `@type`.
    details: Vec<Value>,
    /// The methods the path has, for a 405.
    allow: Option<String>,
}

#[derive(serde::Serialize)]
struct Body<'a> {
    code: i32,
    message: &'a str,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    details: &'a [Value],
}

impl ApiError {
    /// A request that cannot be turned into its RPC's message: 400 and
    /// INVALID_ARGUMENT, as if the RPC had refused it.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Code::InvalidArgument, message)
    }

    /// 413: a body, or the message it makes, over what the route reads;
    /// RESOURCE_EXHAUSTED, as the gRPC face answers a message over its cap.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ResourceExhausted,
            message,
        )
    }

    /// The request's body did not come in whole in time: 408 and
    /// DEADLINE_EXCEEDED; hyper then closes an HTTP/1.1 connection (the rest of
    /// the body is never read) and resets an HTTP/2 stream.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, Code::DeadlineExceeded, message)
    }

    /// No route has this path.
    pub fn no_route(method: &http::Method, path: &str) -> Self {
        let message = format!("no route for {method} {path}");
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, message)
    }

    /// The path has routes, but none for this method (grpc-gateway answers
    /// 405 with UNIMPLEMENTED too).
    pub fn method_not_allowed(method: &http::Method, path: &str, allow: Vec<String>) -> Self {
        let message = format!(
            "{path} does not take {method}; it takes {}",
            allow.join(", ")
        );
        let mut error = Self::new(StatusCode::METHOD_NOT_ALLOWED, Code::Unimplemented, message);
        error.allow = Some(allow.join(", "));
        error
    }

    /// 500: what went wrong is in the log, not in the answer.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            "internal error",
        )
    }

    /// What the RPC answered with `status`, its details included.
    pub fn from_status(status: &tonic::Status) -> Self {
        let mut error = Self::new(http_status(status.code()), status.code(), status.message());
        if !status.details().is_empty() {
            match pb::Status::decode(status.details()) {
                Ok(rich) => error.details = rich.details.iter().filter_map(detail).collect(),
                Err(err) => tracing::warn!(error = %err, "undecodable grpc-status-details-bin"),
            }
        }
        error
    }

    fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            allow: None,
        }
    }

    /// Says in the log why the REST face answered without calling an RPC
    /// (an RPC's answer has the RPC's own log line).
    pub fn logged(self) -> Self {
        tracing::info!(
            status = self.status.as_u16(),
            reason = %self.message,
            "REST request refused"
        );
        self
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the caller reads.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code as i32,
            message: &self.message,
            details: &self.details,
        };
        let json = serde_json::to_vec(&body).expect("an error body serializes");
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response();
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}

/// One detail in the JSON mapping of `Any`: the message's own fields, and
/// its type URL as `@type`. Types other than the standard ones are left out.
fn detail(any: &pbjson_types::Any) -> Option<Value> {
    let Some(name) = any.type_url.strip_prefix(TYPE_URL_PREFIX) else {
        tracing::warn!(type_url = %any.type_url, "error detail of an unknown type left out");
        return None;
    };
    let fields = match name {
        "google.rpc.BadRequest" => to_json(&rest_violations(decode(&any.value)?)),
        "google.rpc.ErrorInfo" => to_json(&decode::<pb::ErrorInfo>(&any.value)?),
        "google.rpc.RetryInfo" => to_json(&decode::<pb::RetryInfo>(&any.value)?),
        "google.rpc.DebugInfo" => to_json(&decode::<pb::DebugInfo>(&any.value)?),
        "google.rpc.QuotaFailure" => to_json(&decode::<pb::QuotaFailure>(&any.value)?),
        "google.rpc.PreconditionFailure" => {
            to_json(&decode::<pb::PreconditionFailure>(&any.value)?)
        }
        "google.rpc.RequestInfo" => to_json(&decode::<pb::RequestInfo>(&any.value)?),
        "google.rpc.ResourceInfo" => to_json(&decode::<pb::ResourceInfo>(&any.value)?),
        "google.rpc.Help" => to_json(&decode::<pb::Help>(&any.value)?),
        "google.rpc.LocalizedMessage" => to_json(&decode::<pb::LocalizedMessage>(&any.value)?),
        _ => {
            tracing::warn!(type_url = %any.type_url, "error detail of an unknown type left out");
            return None;
        }
    };
    let Value::Object(mut fields) = fields? else {
        return None;
    };
    fields.insert("@type".to_owned(), Value::String(any.type_url.clone()));
    Some(Value::Object(fields))
}

/// The detail types an error body may carry, for the OpenAPI document.
pub const DETAIL_TYPES: [&str; 10] = [
    "google.rpc.BadRequest",
    "google.rpc.ErrorInfo",
    "google.rpc.RetryInfo",
    "google.rpc.DebugInfo",
    "google.rpc.QuotaFailure",
    "google.rpc.PreconditionFailure",
    "google.rpc.RequestInfo",
    "google.rpc.ResourceInfo",
    "google.rpc.Help",
    "google.rpc.LocalizedMessage",
];

fn decode<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes)
        .inspect_err(|err| tracing::warn!(error = %err, "undecodable error detail left out"))
        .ok()
}

fn to_json(message: &impl serde::Serialize) -> Option<Value> {
    serde_json::to_value(message).ok()
}

/// The violations' fields named as a REST caller names them: by their JSON
/// names (`organization_id` → `organizationId`, each part of a path). A
/// JSON pointer into a field's value (`data/first_name`) names the
/// caller's own keys, which stay as they are.
fn rest_violations(mut bad_request: pb::BadRequest) -> pb::BadRequest {
    for violation in &mut bad_request.field_violations {
        let (field, pointer) = match violation.field.find('/') {
            Some(at) => violation.field.split_at(at),
            None => (violation.field.as_str(), ""),
        };
        let field = field
            .split('.')
            .map(json_name)
            .collect::<Vec<_>>()
            .join(".");
        violation.field = field + pointer;
    }
    bad_request
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    #[test]
    fn every_code_has_its_grpc_gateway_status() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, status) in expected {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn details_keep_their_fields_and_gain_their_type() {
        let mut details = ErrorDetails::with_bad_request_violation("rate_limit_per_second", "no");
        details.set_retry_info(Some(std::time::Duration::from_millis(1500)));
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "bad", details);
        let error = ApiError::from_status(&status);
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            error.details,
            vec![
                serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": "1.500s",
                }),
                serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "rateLimitPerSecond", "description": "no"}],
                }),
            ]
        );
    }
}
