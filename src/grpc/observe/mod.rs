//! One layer around every RPC that times it from the request's arrival to
//! the end of its response (the trailers of an answer, the headers of a
//! trailers-only error), then logs one line with its method, code and
//! duration and counts it in go-grpc-prometheus' metrics. A call whose
//! client goes away first ends as `Cancelled`.
//!
//! Only the methods of the services served are counted, each known from
//! its descriptor; any other path (answered `Unimplemented`) is logged but
//! not counted, so no caller can make up label values.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use anyhow::Context as _;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::trace::SpanContext;
use pin_project_lite::pin_project;
use prost::Message;
use tonic::Code;
use tonic::codegen::Service;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tower_layer::Layer;
use tracing::{Span, field::Empty};

use crate::metrics::{Metrics, RpcMetrics};
use crate::telemetry::{context, traces};

mod traced;

pub use traced::{RestRoute, RpcSpan};

/// The metrics of each method served, by request path (`/package.Service/Method`).
type Methods = HashMap<String, Arc<RpcMetrics>>;

/// Times, logs and counts every RPC (see the module).
#[derive(Clone)]
pub struct ObserveRpcsLayer {
    methods: Arc<Methods>,
}

impl ObserveRpcsLayer {
    /// Counts the methods of the services in `descriptor_sets` (encoded
    /// `FileDescriptorSet`s) in `metrics`, every code of each at zero.
    pub fn new(metrics: &Metrics, descriptor_sets: &[&[u8]]) -> anyhow::Result<Self> {
        let mut methods = Methods::new();
        for encoded in descriptor_sets {
            let set = prost_types::FileDescriptorSet::decode(*encoded)
                .context("a gRPC descriptor set does not decode")?;
            for file in &set.file {
                for service in &file.service {
                    let service_name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        let kind = match (method.client_streaming(), method.server_streaming()) {
                            (false, false) => "unary",
                            (false, true) => "server_stream",
                            (true, false) => "client_stream",
                            (true, true) => "bidi_stream",
                        };
                        let series = metrics.rpc(kind, &service_name, method.name());
                        let path = format!("/{service_name}/{}", method.name());
                        methods.insert(path, Arc::new(series));
                    }
                }
            }
        }
        Ok(Self {
            methods: Arc::new(methods),
        })
    }
}

impl<S> Layer<S> for ObserveRpcsLayer {
    type Service = ObserveRpcs<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveRpcs {
            inner,
            methods: self.methods.clone(),
        }
    }
}

/// The service [`ObserveRpcsLayer`] wraps around the routes.
#[derive(Clone)]
pub struct ObserveRpcs<S> {
    inner: S,
    methods: Arc<Methods>,
}

/// The RPC's span when it is not exported: log context only.
fn span(path: &str) -> Span {
    tracing::info_span!(
        "rpc",
        method = %path,
        code = Empty,
        duration_ms = Empty,
        trace_id = Empty,
        span_id = Empty
    )
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ObserveRpcs<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ObservedFuture<context::Scoped<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let arrived = Instant::now();
        let path = request.uri().path();
        // Only with traces on: no header is read otherwise.
        let traced = traces::enabled();
        let (span, ids) = if traced {
            traced::open(&request)
        } else {
            (span(path), None)
        };
        let sampled = ids.as_ref().is_some_and(SpanContext::is_sampled);
        let rest = sampled && request.extensions().get::<RestRoute>().is_some();
        let metrics = self.methods.get(path).cloned();
        if let Some(metrics) = &metrics {
            metrics.started();
        }
        let inner = {
            let _entered = span.enter();
            context::scope(ids, self.inner.call(request))
        };
        ObservedFuture {
            inner,
            call: Open(Some(Call {
                arrived,
                span,
                metrics,
                rest,
                sampled,
            })),
        }
    }
}

/// An RPC under way.
struct Call {
    arrived: Instant,
    span: Span,
    /// `None` for a path that is no method served.
    metrics: Option<Arc<RpcMetrics>>,
    /// A sampled REST call: the answer carries the span ([`RpcSpan`]).
    rest: bool,
    /// The span is exported: it takes the RPC's attributes.
    sampled: bool,
}

/// An RPC until it ends; dropped before, it ends as `Cancelled` (the
/// client reset the stream, or the connection closed).
struct Open(Option<Call>);

impl Open {
    fn end(&mut self, code: Code) {
        let Some(call) = self.0.take() else {
            return;
        };
        let elapsed = call.arrived.elapsed();
        if let Some(metrics) = &call.metrics {
            metrics.handled(code, elapsed);
        }
        call.span.record("code", tracing::field::debug(code));
        call.span
            .record("duration_ms", elapsed.as_micros() as f64 / 1000.0);
        if call.sampled {
            traced::end(&call.span, code);
        }
        tracing::info!(parent: &call.span, "rpc finished");
    }

    fn span(&self) -> Option<&Span> {
        self.0.as_ref().map(|call| &call.span)
    }

    /// The span to hand the REST face, for a traced REST call.
    fn rest_span(&self) -> Option<RpcSpan> {
        let call = self.0.as_ref().filter(|call| call.rest)?;
        Some(RpcSpan(call.span.clone()))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.end(Code::Cancelled);
    }
}

/// The `grpc-status` of trailers, or of the headers of a trailers-only answer.
fn status_code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.parse().ok()?))
}

pin_project! {
    /// The response future of [`ObserveRpcs`]: ends a trailers-only answer
    /// at once, and hands any other to its body.
    pub struct ObservedFuture<F> {
        #[pin]
        inner: F,
        call: Open,
    }
}

impl<F, B, E> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ObservedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _entered = this.call.span().map(Span::enter);
            this.inner.poll(cx)
        };
        let mut response = match ready!(polled) {
            Ok(response) => response,
            Err(err) => {
                this.call.end(Code::Unknown);
                return Poll::Ready(Err(err));
            }
        };
        if let Some(span) = this.call.rest_span() {
            response.extensions_mut().insert(span);
        }
        let call = match status_code(response.headers()) {
            Some(code) => {
                this.call.end(code);
                Open(None)
            }
            None => Open(this.call.0.take()),
        };
        Poll::Ready(Ok(response.map(|body| ObservedBody { body, call })))
    }
}

pin_project! {
    /// A response body that ends its RPC at its trailers.
    pub struct ObservedBody<B> {
        #[pin]
        body: B,
        call: Open,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = {
            let _entered = this.call.span().map(Span::enter);
            ready!(this.body.poll_frame(cx))
        };
        match &polled {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call
                        .end(status_code(trailers).unwrap_or(Code::Unknown));
                }
            }
            // A stream that ends without trailers, or fails, has no status.
            Some(Err(_)) | None => this.call.end(Code::Unknown),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
