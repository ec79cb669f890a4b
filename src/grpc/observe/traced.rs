//! The RPC's OpenTelemetry server span, when traces are on: its name and
//! semantic-convention attributes, the caller's trace it continues, and
//! the REST request it may stand for.

use tonic::Code;
use tonic::codegen::http::Request;
use tracing::Span;

use crate::telemetry::traces;

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

/// Makes `span` the server span of `request` (`/package.Service/Method`).
pub(super) fn serve<B>(span: &Span, request: &Request<B>) {
    let name = request.uri().path().trim_start_matches('/');
    traces::serve(span, name, request.headers());
    let (service, method) = name.rsplit_once('/').unwrap_or((name, ""));
    traces::set_attribute(span, "rpc.system", "grpc");
    traces::set_attribute(span, "rpc.service", service.to_owned());
    traces::set_attribute(span, "rpc.method", method.to_owned());
    if let Some(rest) = request.extensions().get::<RestRoute>() {
        traces::set_attribute(span, "http.request.method", rest.method.to_string());
        traces::set_attribute(span, "http.route", rest.route);
    }
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
