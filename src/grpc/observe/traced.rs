//! The RPC's OpenTelemetry server span, when traces are on and its trace
//! sampled: its name and semantic-convention attributes, the caller's
//! trace it continues, and the REST request it may stand for.

use opentelemetry::trace::SpanContext;
use tonic::Code;
use tonic::codegen::http::Request;
use tracing::Span;
use tracing::field::Empty;

use crate::telemetry::traces::{self, Decision};

/// What the REST face tells the RPC it transcodes into, for its span.
#[derive(Debug, Clone)]
pub struct RestRoute {
    /// The HTTP request's method.
    pub method: http::Method,
    /// The route's path template, such as `/v1/organizations/{organizationId}/events`.
    pub route: &'static str,
}

/// The RPC's span in the answer's extensions, handed to the REST face so
/// that it records the HTTP status it answers with.
#[derive(Debug, Clone)]
pub struct RpcSpan(pub Span);

/// The RPC's span and its trace's ids, continuing the caller's trace
/// (`traceparent`, `tracestate`): an exported server span when the trace
/// is sampled, else the log's span, its ids in its fields.
pub(super) fn open<B>(request: &Request<B>) -> (Span, Option<SpanContext>) {
    let path = request.uri().path();
    let parent = traces::incoming(request.headers());
    if let Decision::Unsampled(ids) = traces::decide(&parent) {
        let span = super::span(path);
        traces::log_ids(&span, &ids);
        return (span, Some(ids));
    }
    let span = tracing::info_span!(
        "rpc",
        method = %path,
        code = Empty,
        duration_ms = Empty,
        otel.name = Empty,
        otel.kind = "server",
        trace_id = Empty,
        span_id = Empty
    );
    let name = path.trim_start_matches('/');
    let ids = traces::serve(&span, name, parent);
    let (service, method) = name.rsplit_once('/').unwrap_or((name, ""));
    traces::set_attribute(&span, "rpc.system", "grpc");
    traces::set_attribute(&span, "rpc.service", service.to_owned());
    traces::set_attribute(&span, "rpc.method", method.to_owned());
    if let Some(rest) = request.extensions().get::<RestRoute>() {
        traces::set_attribute(&span, "http.request.method", rest.method.to_string());
        traces::set_attribute(&span, "http.route", rest.route);
    }
    (span, ids)
}

/// Records how the RPC ended; the codes the conventions count as a server's
/// failure mark the span failed.
pub(super) fn end(span: &Span, code: Code) {
    traces::set_attribute(span, "rpc.grpc.status_code", code as i64);
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        traces::set_error(span, format!("{code:?}"));
    }
}
