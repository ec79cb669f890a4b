//! One REST call, the grpc-gateway way but in process: the path, query and
//! JSON body become the RPC's request message; it goes as a unary gRPC call
//! (the caller's `authorization` header with it) through the same service
//! the gRPC server serves; and the answer comes back as JSON and an HTTP
//! status.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, TE};
use http::{HeaderMap, HeaderValue, Method, Request, Version};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde_json::{Map, Value};
use tonic::service::Routes;
use tower::ServiceExt;

use super::codec::{frame, unframe};
use super::errors::ApiError;
use super::server::BodyTooSlow;
use super::shape::RequestShape;
use crate::auth::RestCall;

/// The largest request body read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Answers `request` on `shape`'s route, whose path captured `captures`
/// (JSON field name, value).
pub async fn call(
    rpc: &Routes,
    shape: &RequestShape,
    captures: Vec<(String, String)>,
    request: Request<Body>,
) -> Response {
    match transcode(rpc, shape, captures, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn transcode(
    rpc: &Routes,
    shape: &RequestShape,
    captures: Vec<(String, String)>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let message = request_message(shape, &parts, body, captures)
        .await
        .map_err(ApiError::logged)?;
    let route = shape.route();
    let answer = send(rpc, &route.grpc_path(), &parts.headers, &message).await?;
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

/// The RPC's request message, encoded, from the path, query and body.
async fn request_message(
    shape: &RequestShape,
    parts: &http::request::Parts,
    body: Body,
    captures: Vec<(String, String)>,
) -> Result<Vec<u8>, ApiError> {
    let body = read_body(&parts.headers, body).await?;
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
            ApiError::bad_request(format!("the request does not fit {}: {e}", shape.message()))
        })
}

/// The whole body, refused past [`MAX_BODY_BYTES`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, ApiError> {
    let too_large = || ApiError::bad_request("the request body is larger than 1 MiB");
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(err) => match BodyTooSlow::in_chain(&*err) {
            Some(too_slow) => Err(ApiError::request_timeout(too_slow.to_string())),
            None => Err(ApiError::bad_request(format!(
                "cannot read the request body: {err}"
            ))),
        },
    }
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

/// Calls `path` with `message` as a unary gRPC call and returns the answer
/// message, or the status it failed with.
async fn send(
    rpc: &Routes,
    path: &str,
    headers: &HeaderMap,
    message: &[u8],
) -> Result<bytes::Bytes, ApiError> {
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
    // Only this in-process call carries it: a portal token is accepted on
    // REST calls only.
    request.extensions_mut().insert(RestCall);
    if let Some(authorization) = headers.get(AUTHORIZATION) {
        request
            .headers_mut()
            .insert(AUTHORIZATION, authorization.clone());
    }
    let response = match rpc.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
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
