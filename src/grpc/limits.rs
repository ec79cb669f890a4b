//! The largest request message each RPC takes. The cap is checked against
//! the length each gRPC frame announces, as the body streams in: a message
//! over it is answered RESOURCE_EXHAUSTED before it is buffered, let alone
//! decoded (tonic would wait for the whole message, up to its own 4 MB).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Status;
use tonic::codegen::Service;
use tonic::codegen::http::Request;
use tower_layer::Layer;

/// The one RPC whose messages are large: it carries an event's `data`.
const PUBLISH_EVENT: &str = "/webhooks.v1.EventService/PublishEvent";

/// The catalogue's writes carry a schema and an example, 32 KiB of JSON
/// each, which a Struct can take five times as many bytes to hold: they
/// share PublishEvent's cap. Only holders of `event-types:write` get as far
/// as sending one (the token is checked before the message is read).
const LARGE_TOO: [&str; 2] = [
    "/webhooks.v1.WebhookService/CreateEventType",
    "/webhooks.v1.WebhookService/UpdateEventType",
];

/// PublishEvent's cap by default: 1.5 MiB. The largest valid event fits,
/// however its `data` is made up: 256 KiB of JSON take at most 5.5 times as
/// much as a `google.protobuf.Struct` (a list of zeros: 2 bytes each in
/// JSON, 11 in protobuf), 1.38 MiB, and the most labels about 17 KiB more;
/// see the tests.
pub const DEFAULT_PUBLISH_EVENT_BYTES: u32 = 1536 * 1024;

/// Every other method's cap by default: 64 KiB, ten times the largest valid
/// CreateWebhook or UpdateWebhook (a 2,048-character URL, 500 characters of
/// description, 100 event names).
pub const DEFAULT_OTHER_BYTES: u32 = 64 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest request message, in bytes, of each RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// PublishEvent's (and CreateEventType's and UpdateEventType's).
    pub publish_event: usize,
    /// Every other method's, health and reflection included.
    pub other: usize,
}

impl MessageLimits {
    /// The cap of the method at `path` (`/webhooks.v1.EventService/PublishEvent`).
    pub fn of(&self, path: &str) -> usize {
        if path == PUBLISH_EVENT || LARGE_TOO.contains(&path) {
            self.publish_event
        } else {
            self.other
        }
    }
}

/// What a caller is told of a message of `size` bytes sent to the method at
/// `path`, whose cap is `cap`.
pub fn too_large(path: &str, size: usize, cap: usize) -> String {
    let method = path.rsplit('/').next().unwrap_or(path);
    format!("the request message is {size} bytes; {method} takes at most {cap}")
}

/// Caps every request message of the routes it wraps.
#[derive(Debug, Clone, Copy)]
pub struct CapMessagesLayer {
    limits: MessageLimits,
}

impl CapMessagesLayer {
    pub fn new(limits: MessageLimits) -> Self {
        Self { limits }
    }
}

impl<S> Layer<S> for CapMessagesLayer {
    type Service = CapMessages<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CapMessages {
            inner,
            limits: self.limits,
        }
    }
}

/// The service [`CapMessagesLayer`] wraps around the routes.
#[derive(Debug, Clone)]
pub struct CapMessages<S> {
    inner: S,
    limits: MessageLimits,
}

impl<S> Service<Request<Body>> for CapMessages<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let cap = self.limits.of(&path);
        self.inner.call(request.map(|body| {
            Body::new(CappedBody {
                inner: body,
                frames: Frames::new(cap),
                path,
                refused: false,
            })
        }))
    }
}

pin_project! {
    /// A request body that fails, with the RESOURCE_EXHAUSTED that tonic
    /// answers as it is, once a frame announces a message over the cap.
    struct CappedBody<B> {
        #[pin]
        inner: B,
        frames: Frames,
        path: String,
        refused: bool,
    }
}

impl<B> http_body::Body for CappedBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if *this.refused {
            return Poll::Ready(None);
        }
        let frame = match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref()
            && let Err(size) = this.frames.feed(data)
        {
            *this.refused = true;
            let message = too_large(this.path, size, this.frames.cap);
            tracing::info!(%message, "a request message over its cap");
            return Poll::Ready(Some(Err(Box::new(Status::resource_exhausted(message)))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.refused || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Follows the length-prefixed messages of a gRPC body (a flag byte, a
/// 4-byte big-endian length, the message) across however the body is cut.
#[derive(Debug)]
struct Frames {
    cap: usize,
    header: [u8; 5],
    /// Bytes of the current header read so far.
    filled: usize,
    /// Bytes of the current message still to pass.
    left: usize,
}

impl Frames {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            header: [0; 5],
            filled: 0,
            left: 0,
        }
    }

    /// Passes `data` on; fails with the length a header announces when it
    /// is over the cap.
    fn feed(&mut self, mut data: &[u8]) -> Result<(), usize> {
        while !data.is_empty() {
            if self.left > 0 {
                let n = self.left.min(data.len());
                self.left -= n;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.filled).min(data.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == 5 {
                self.filled = 0;
                let [_, a, b, c, d] = self.header;
                let length = u32::from_be_bytes([a, b, c, d]) as usize;
                if length > self.cap {
                    return Err(length);
                }
                self.left = length;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(length: u32) -> Vec<u8> {
        let mut frame = vec![0];
        frame.extend_from_slice(&length.to_be_bytes());
        frame.resize(5 + length as usize, 7);
        frame
    }

    #[test]
    fn messages_up_to_the_cap_pass_however_they_are_cut() {
        let body: Vec<u8> = [frame(10), frame(0), frame(10)].concat();
        for cut in 1..body.len() {
            let mut frames = Frames::new(10);
            for piece in body.chunks(cut) {
                assert_eq!(frames.feed(piece), Ok(()), "cut every {cut} bytes");
            }
        }
    }

    #[test]
    fn a_header_over_the_cap_fails_as_soon_as_it_is_whole() {
        let mut body = frame(10);
        body.extend_from_slice(&[0, 0, 0, 0, 11]);
        for cut in 1..body.len() {
            let mut frames = Frames::new(10);
            let failed = body
                .chunks(cut)
                .map(|piece| frames.feed(piece))
                .find(|r| r.is_err());
            assert_eq!(failed, Some(Err(11)), "cut every {cut} bytes");
        }
        // Even with not one byte of the message itself sent.
        assert_eq!(
            Frames::new(10).feed(&[0, 0x7f, 0xff, 0xff, 0xff]),
            Err(0x7fff_ffff)
        );
    }

    use crate::domain::event::{MAX_DATA_BYTES, MAX_IDEMPOTENCY_KEY};
    use crate::domain::labels::{MAX_KEY, MAX_LABELS, MAX_VALUE};
    use crate::grpc::proto::PublishEventRequest;
    use prost::Message;
    use serde_json::{Value, json};

    /// `value`, a JSON object, as the `Struct` a client would send.
    fn to_struct(value: Value) -> pbjson_types::Struct {
        serde_json::from_value(value).expect("a JSON object")
    }

    /// `data` of every kind of content, each filling 256 KiB of JSON as
    /// densely as it can.
    fn fillings() -> Vec<(&'static str, Value)> {
        let many = |item: Value| {
            let size = serde_json::to_vec(&item).unwrap().len() + 1;
            json!({ "a": vec![item; (MAX_DATA_BYTES - 8) / size] })
        };
        let keys: serde_json::Map<String, Value> =
            (0..20_000).map(|i| (format!("{i:x}"), json!(0))).collect();
        vec![
            ("zeros", many(json!(0))),
            ("whole numbers", many(json!(123_456_789))),
            ("fractions", many(json!(0.5))),
            ("booleans", many(json!(true))),
            ("nulls", many(json!(null))),
            ("empty strings", many(json!(""))),
            ("empty lists", many(json!([]))),
            ("empty objects", many(json!({}))),
            ("one-letter strings", many(json!("x"))),
            ("keys", Value::Object(keys)),
            (
                "one long string",
                json!({ "a": "x".repeat(MAX_DATA_BYTES - 10) }),
            ),
        ]
    }

    #[test]
    fn a_list_of_zeros_is_the_densest_data_at_5_5_times_its_json() {
        let mut worst = ("", 0.0);
        for (name, data) in fillings() {
            let json = serde_json::to_vec(&data).unwrap().len();
            assert!(json <= MAX_DATA_BYTES, "{name}: {json}");
            let protobuf = to_struct(data).encoded_len();
            let ratio = protobuf as f64 / json as f64;
            if ratio > worst.1 {
                worst = (name, ratio);
            }
        }
        assert_eq!(worst.0, "zeros");
        assert!((5.4..=5.5).contains(&worst.1), "{worst:?}");
    }

    #[test]
    fn the_largest_valid_event_fits_the_default_cap() {
        let (_, zeros) = fillings().swap_remove(0);
        let request = PublishEventRequest {
            organization_id: uuid::Uuid::new_v4().to_string(),
            r#type: "member.role_updated".into(),
            data: Some(to_struct(zeros)),
            // Four UTF-8 bytes a character.
            idempotency_key: "𝄞".repeat(MAX_IDEMPOTENCY_KEY),
            ordering_key: "𝄞".repeat(crate::domain::ordering::MAX_ORDERING_KEY),
            // The most labels, each with the longest key and value.
            labels: (0..MAX_LABELS)
                .map(|i| {
                    (
                        format!("{i:02}{}", "k".repeat(MAX_KEY - 2)),
                        "𝄞".repeat(MAX_VALUE),
                    )
                })
                .collect(),
        };
        let size = request.encoded_len();
        assert!(size > 1_400_000, "{size}");
        assert!(size < DEFAULT_PUBLISH_EVENT_BYTES as usize, "{size}");
    }

    #[test]
    fn publish_event_has_its_own_cap() {
        let limits = MessageLimits {
            publish_event: 1000,
            other: 10,
        };
        assert_eq!(limits.of(PUBLISH_EVENT), 1000);
        assert_eq!(limits.of("/webhooks.v1.WebhookService/CreateWebhook"), 10);
        assert_eq!(limits.of(LARGE_TOO[0]), 1000);
        assert_eq!(limits.of("/grpc.health.v1.Health/Check"), 10);
        assert_eq!(
            too_large(PUBLISH_EVENT, 3000, 1000),
            "the request message is 3000 bytes; PublishEvent takes at most 1000"
        );
    }
}
