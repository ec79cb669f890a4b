//! The trace context that travels with an event: taken from the span that
//! publishes it, stored with it, and continued by the spans of its delivery
//! attempts, whenever and wherever they run (docs/tracing.md).

use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::traces;
use crate::domain::TraceContext;

/// The current span's trace context, to store with an event; `None` when
/// traces are off.
pub fn current() -> Option<TraceContext> {
    if !traces::enabled() {
        return None;
    }
    of(&Span::current())
}

/// `span`'s trace context, as the W3C headers carry it; `None` when traces
/// are off or the span has none.
pub fn of(span: &Span) -> Option<TraceContext> {
    let (traceparent, tracestate) = traces::traceparent(span)?;
    Some(TraceContext {
        traceparent,
        tracestate,
    })
}

/// Makes `span`, not entered yet, a child of the span `context` names. A
/// stored context that is not valid W3C leaves `span` the root of a trace
/// of its own.
pub fn continue_from(span: &Span, context: &TraceContext) {
    if let Some(parent) = traces::parent_from(&context.traceparent, context.tracestate.as_deref()) {
        // Fails only for a span the OpenTelemetry layer does not see.
        let _ = span.set_parent(parent);
    }
}
