//! One REST call, the grpc-gateway way but in process: the caller's token
//! is checked first, with what it alone tells of access (the organization
//! from the path), before the body is read; then the path, query and JSON
//! body become the RPC's request message; it goes as a unary gRPC call (the
//! verified caller with it) through the same service the gRPC server
//! serves; and the answer comes back as JSON and an HTTP status.

use std::time::SystemTime;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, TE};
use http::{HeaderMap, HeaderValue, Method, Request, Version};
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value};
use tonic::Status;
use tonic::service::Routes;
use tower::ServiceExt;

use super::body;
use super::codec::{frame, unframe};
use super::errors::{ApiError, cut};
use super::routes::Route;
use super::shape::RequestShape;
use crate::auth::{Authenticator, Face, RestCall};
use crate::domain::access::authorize_early;
use crate::domain::{Action, Caller, OrganizationId};
use crate::grpc::limits::too_large;
use crate::grpc::{MessageLimits, RestRoute, RpcSpan};
use crate::telemetry::traces;

/// The JSON name of the path field that names the organization acted on.
const ORGANIZATION: &str = "organizationId";

/// What the REST face makes its calls with.
#[derive(Clone)]
pub struct Gateway {
    /// The stack of gRPC services that the gRPC server serves.
    pub rpc: Routes,
    /// Checks each request's token before its body is read.
    pub authenticator: Authenticator,
    /// The largest message of each RPC.
    pub limits: MessageLimits,
}

/// Answers `request` on `shape`'s route, whose path captured `captures`
/// (JSON field name, value).
pub async fn call(
    gateway: &Gateway,
    shape: &RequestShape,
    captures: Vec<(String, String)>,
    request: Request<Body>,
) -> Response {
    // Only with traces on: the caller's trace, for a refusal's span.
    let traced = traces::enabled().then(|| {
        let parent = traces::incoming(request.headers());
        (SystemTime::now(), parent, request.method().clone())
    });
    match transcode(gateway, shape, captures, request).await {
        Ok(response) => response,
        Err(error) => {
            let response = error.into_response();
            if let Some((started, parent, method)) = traced {
                let route = shape.route().path;
                traces::refused(&parent, started, &method, route, response.status());
            }
            response
        }
    }
}

/// The RPC's answer; an error when the request is refused before it
/// becomes an RPC.
async fn transcode(
    gateway: &Gateway,
    shape: &RequestShape,
    captures: Vec<(String, String)>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let route = shape.route();
    let caller = match admit(gateway, route, &parts.headers, &captures).await {
        Ok(caller) => caller,
        Err(refused) => {
            body::discard(&parts, body);
            return Err(refused);
        }
    };
    let message = request_message(shape, &parts, body, captures)
        .await
        .map_err(ApiError::logged)?;
    let path = route.grpc_path();
    let cap = gateway.limits.of(&path);
    if message.len() > cap {
        return Err(ApiError::too_large(too_large(&path, message.len(), cap)).logged());
    }
    let mut rpc_span = None;
    let response = answer(gateway, route, &parts, caller, &message, &mut rpc_span)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if let Some(RpcSpan(span)) = rpc_span {
        let status = i64::from(response.status().as_u16());
        traces::set_attribute(&span, "http.response.status_code", status);
    }
    Ok(response)
}

/// The RPC's answer to `message` as JSON and the route's status; the RPC's
/// span, when traced, into `rpc_span`.
async fn answer(
    gateway: &Gateway,
    route: &Route,
    parts: &http::request::Parts,
    caller: Caller,
    message: &[u8],
    rpc_span: &mut Option<RpcSpan>,
) -> Result<Response, ApiError> {
    let mut request = grpc_request(&route.grpc_path(), caller, message)?;
    if traces::enabled() {
        // The RPC's server span continues the caller's trace and says it
        // came as REST.
        for name in ["traceparent", "tracestate"] {
            if let Some(value) = parts.headers.get(name) {
                request.headers_mut().insert(name, value.clone());
            }
        }
        request.extensions_mut().insert(RestRoute {
            method: parts.method.clone(),
            route: route.path,
        });
    }
    let answer = send(&gateway.rpc, request, rpc_span).await?;
    let json = route.codec.response(&answer).map_err(|e| {
        tracing::error!(error = %e, rpc = %route.grpc_path(), "cannot write the answer as JSON");
        ApiError::internal()
    })?;
    Ok((
        route.success,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        json,
    )
        .into_response())
}

/// The caller, when the token is valid and may make the call as far as the
/// token and the path's organization tell ([`authorize_early`]); otherwise
/// what the RPC would answer, logged.
async fn admit(
    gateway: &Gateway,
    route: &Route,
    headers: &HeaderMap,
    captures: &[(String, String)],
) -> Result<Caller, ApiError> {
    let caller = match gateway.authenticator.caller(headers, Face::Rest).await {
        Ok(caller) => caller,
        Err(err) => {
            tracing::info!(reason = %err, "request not authenticated");
            return Err(ApiError::from_status(&Status::unauthenticated(
                err.client_message(),
            )));
        }
    };
    if let Some(action) = Action::named(route.rpc) {
        let organization = captures
            .iter()
            .find(|(name, _)| name == ORGANIZATION)
            .and_then(|(_, id)| OrganizationId::parse(id).ok());
        if let Err(denied) = authorize_early(&caller, action, organization) {
            return Err(ApiError::from_status(&Status::permission_denied(denied.0)).logged());
        }
    }
    Ok(caller)
}

/// The RPC's request message, encoded, from the path, query and body.
async fn request_message(
    shape: &RequestShape,
    parts: &http::request::Parts,
    body: Body,
    captures: Vec<(String, String)>,
) -> Result<Vec<u8>, ApiError> {
    let body = body::read(parts, body).await?;
    let json = if body.is_empty() {
        None
    } else {
        if !shape.takes_body() {
            return Err(ApiError::bad_request(format!(
                "{} {} takes no request body",
                parts.method,
                parts.uri.path()
            )));
        }
        json_content_type(&parts.headers)?;
        Some(parse_object(&body)?)
    };
    let fields = shape.fields(json, parts.uri.query(), captures)?;
    shape
        .route()
        .codec
        .request(Value::Object(fields))
        .map_err(|e| {
            // The JSON mapping's words are about the caller's JSON, but may
            // quote a value of any length.
            let why = e.to_string();
            let why = cut(&why);
            ApiError::bad_request(format!(
                "the request does not fit {}: {why}",
                shape.message()
            ))
        })
}

/// Refuses a body that is not `application/json` (UTF-8, the only charset
/// JSON has).
fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let refused = |given: &str| {
        ApiError::bad_request(format!(
            "the request body must be `application/json`, not `{given}`"
        ))
    };
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(refused("nothing"));
    };
    let text = value.to_str().map_err(|_| refused("?"))?;
    let mut parts = text.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|media| media.eq_ignore_ascii_case("application/json"))
    {
        return Err(refused(text));
    }
    for parameter in parts.filter(|p| !p.is_empty()) {
        let utf8 = parameter.split_once('=').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("charset")
                && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        });
        if !utf8 {
            return Err(refused(text));
        }
    }
    Ok(())
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ApiError::bad_request(
            "the request body must be a JSON object",
        )),
        Err(err) => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {err}"
        ))),
    }
}

/// `message` as a unary gRPC call of `caller` to `path`.
fn grpc_request(
    path: &str,
    caller: Caller,
    message: &[u8],
) -> Result<Request<tonic::body::Body>, ApiError> {
    let frame = frame(message).map_err(ApiError::bad_request)?;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .version(Version::HTTP_2)
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .body(tonic::body::Body::new(Full::new(frame)))
        .map_err(|err| {
            tracing::error!(error = %err, "cannot build the gRPC request");
            ApiError::internal()
        })?;
    // Only this in-process call carries it: the token is not checked twice,
    // and a portal token is accepted on REST calls only.
    request.extensions_mut().insert(RestCall(caller));
    Ok(request)
}

/// Makes the gRPC call `request` and returns the answer message, or the
/// status it failed with; the RPC's span, when traced, into `rpc_span`.
async fn send(
    rpc: &Routes,
    request: Request<tonic::body::Body>,
    rpc_span: &mut Option<RpcSpan>,
) -> Result<bytes::Bytes, ApiError> {
    let response = match rpc.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (mut parts, body) = response.into_parts();
    *rpc_span = parts.extensions.remove::<RpcSpan>();
    let collected = body.collect().await.map_err(|err| {
        tracing::error!(error = %err, "the gRPC answer broke off");
        ApiError::internal()
    })?;
    // A failure answers "trailers-only": its status is in the headers.
    let status = tonic::Status::from_header_map(&parts.headers).or_else(|| {
        collected
            .trailers()
            .and_then(tonic::Status::from_header_map)
    });
    let Some(status) = status else {
        tracing::error!("a gRPC answer without grpc-status");
        return Err(ApiError::internal());
    };
    if status.code() != tonic::Code::Ok {
        return Err(ApiError::from_status(&status));
    }
    let body = collected.to_bytes();
    let message = unframe(&body).map_err(|err| {
        tracing::error!(error = %err, "a gRPC answer without its message");
        ApiError::internal()
    })?;
    Ok(body.slice_ref(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type(value: &str) -> Result<(), ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        json_content_type(&headers)
    }

    #[test]
    fn only_json_in_utf8_is_read() {
        for accepted in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(content_type(accepted).is_ok(), "{accepted}");
        }
        for refused in [
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
            "application/json; boundary=x",
        ] {
            assert!(content_type(refused).is_err(), "{refused}");
        }
        assert!(json_content_type(&HeaderMap::new()).is_err());
    }
}
