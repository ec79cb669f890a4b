//! The trace context that travels with an event: taken from the RPC that
//! publishes it, stored with it, and continued by its delivery attempts,
//! whenever and wherever they run (docs/tracing.md).
//!
//! An RPC's context is the task's, not its span's: an unsampled trace has
//! no OpenTelemetry span to ask, yet its events carry its ids on.

use std::future::Future;

use opentelemetry::Context;
use opentelemetry::trace::SpanContext;
use tokio::task::futures::TaskLocalFuture;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::traces;
use crate::domain::TraceContext;

tokio::task_local! {
    /// The ids of the RPC the task serves, sampled or not.
    static CURRENT: Option<SpanContext>;
}

/// `future`, polled with `ids` as the current trace context.
pub type Scoped<F> = TaskLocalFuture<Option<SpanContext>, F>;

/// Runs `future` as the RPC `ids` name (`None`: no trace, with traces off).
pub fn scope<F: Future>(ids: Option<SpanContext>, future: F) -> Scoped<F> {
    CURRENT.scope(ids, future)
}

/// The current RPC's ids; `None` when traces are off or outside an RPC.
pub fn current_ids() -> Option<SpanContext> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// The current RPC's trace context, to store with an event; `None` when
/// traces are off or outside an RPC.
pub fn current() -> Option<TraceContext> {
    current_ids().as_ref().map(of)
}

/// `ids` as the W3C headers carry them.
pub fn of(ids: &SpanContext) -> TraceContext {
    let (traceparent, tracestate) = traces::w3c(ids);
    TraceContext {
        traceparent,
        tracestate,
    }
}

/// The span a stored context names, as the parent of a new span; an empty
/// context (a new trace) when it is not valid W3C.
pub fn parent(stored: &TraceContext) -> Context {
    traces::parent_from(&stored.traceparent, stored.tracestate.as_deref()).unwrap_or_default()
}

/// Makes `span`, not entered yet, a child of `parent`.
pub fn continue_from(span: &Span, parent: Context) {
    // Fails only for a span the OpenTelemetry layer does not see.
    let _ = span.set_parent(parent);
}
