//! A REST request's body: read whole up to [`MAX_BODY_BYTES`], and, when
//! the answer is given without it (no valid token, no right to call, too
//! large), read and thrown away in the background, up to a bound, so that
//! a client that sends its whole body before it reads reads the answer
//! rather than a reset connection.

use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, EXPECT};
use http::request::Parts;
use http::{HeaderMap, Version};
use http_body_util::BodyExt;

use super::errors::ApiError;
use super::server::BodyTooSlow;

/// The largest request body read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The most of a refused body read and thrown away: enough for the bodies
/// clients send by mistake; past it, the connection is closed.
pub const DISCARD_BYTES: u64 = 16 * 1024 * 1024;

/// How long a refused body may take to arrive and be thrown away.
pub const DISCARD_TIME: Duration = Duration::from_secs(10);

/// The whole body; 413 past [`MAX_BODY_BYTES`], announced or sent.
pub async fn read(parts: &Parts, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::too_large("the request body is larger than 1 MiB");
    if announced(&parts.headers).is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        discard(parts, body);
        return Err(too_large());
    }
    let mut body = body;
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            if let Some(too_slow) = BodyTooSlow::in_chain(&error) {
                return ApiError::request_timeout(too_slow.to_string());
            }
            tracing::info!(%error, "a request body that cannot be read");
            ApiError::bad_request("the request body could not be read")
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > MAX_BODY_BYTES {
            discard(parts, body);
            return Err(too_large());
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes.freeze())
}

/// Throws `body` away: on HTTP/1, reads what is left of it in the
/// background, up to [`DISCARD_BYTES`] and [`DISCARD_TIME`], while the
/// answer goes out; hyper keeps the connection for the next request when
/// it all came. Not when more is announced than will be read, nor when the
/// client waits for `100 Continue` before sending it (unread, hyper never
/// asks for it), nor on HTTP/2, whose streams end cleanly unread.
pub fn discard(parts: &Parts, body: Body) {
    let waits_to_send = parts
        .headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let too_much = announced(&parts.headers).is_some_and(|length| length > DISCARD_BYTES);
    if parts.version >= Version::HTTP_2 || waits_to_send || too_much {
        return;
    }
    tokio::spawn(async move {
        let mut body = body;
        let mut read = 0u64;
        let drained = tokio::time::timeout(DISCARD_TIME, async {
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    read += data.len() as u64;
                    if read > DISCARD_BYTES {
                        break;
                    }
                }
            }
        });
        let _ = drained.await;
    });
}

/// The `content-length`, if the request has a readable one.
fn announced(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}
