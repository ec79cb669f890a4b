//! Traces as the code sees them (docs/tracing.md): whether they are on
//! ([`enabled`], false without an endpoint: the code that makes spans asks
//! it before doing anything for traces), the sampling decision, the W3C
//! headers, and the attributes of spans. The pipeline that exports them is
//! `super::export`.
//!
//! Only spans that declare an `otel.kind` field are exported; the others
//! stay log context. Whether a trace is sampled is decided once, where it
//! enters (an RPC, an attempt continuing its event's stored context), by
//! [`decide`]: a sampled one gets `tracing` spans that the OpenTelemetry
//! layer records; an unsampled one gets no OpenTelemetry span at all, only
//! ids that its headers and logs carry on. At a low sampling rate, most
//! calls thus cost a header parse and two random numbers, not a span.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, Tracer as _,
};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SdkTracer, ShouldSample,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Set once at start-up, when the OpenTelemetry layer is installed.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The tracer of the spans made without `tracing` ([`refused`]).
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The sampler `OTEL_TRACES_SAMPLER` names, set with [`ENABLED`]: [`decide`]
/// asks it, the SDK does not (it records every span it is given).
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

/// Whether spans are exported: one relaxed load, for the hot path.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns traces on, deciding with `sampler` (the pipeline calls it once it
/// is built). Once per process: a second call (the unit tests) keeps the
/// first's.
pub(super) fn install(sampler: Sampler, tracer: SdkTracer) {
    let _ = SAMPLER.set(sampler);
    let _ = TRACER.set(tracer);
    ENABLED.store(true, Ordering::Relaxed);
}

/// What a span of ours is, decided once where its trace enters.
#[derive(Debug)]
pub enum Decision {
    /// Recorded and exported: make the OpenTelemetry span, a child of the
    /// parent.
    Sampled,
    /// Not recorded: no OpenTelemetry span is made. These ids name it in
    /// the headers and log lines that follow (the parent's trace, else a
    /// new one; a new span id; the sampled flag off).
    Unsampled(SpanContext),
}

/// Whether a span that continues `parent` (an empty context for a new
/// trace) is sampled, as `OTEL_TRACES_SAMPLER` says. Call only when
/// [`enabled`].
pub fn decide(parent: &Context) -> Decision {
    match SAMPLER.get() {
        Some(sampler) => decide_with(sampler, parent),
        None => Decision::Sampled,
    }
}

fn decide_with(sampler: &Sampler, parent: &Context) -> Decision {
    let ids = RandomIdGenerator::default();
    let parent_ids = parent.span().span_context().clone();
    let (trace_id, parent) = if parent_ids.is_valid() {
        (parent_ids.trace_id(), Some(parent))
    } else {
        (ids.new_trace_id(), None)
    };
    let result = sampler.should_sample(parent, trace_id, "", &SpanKind::Internal, &[], &[]);
    match result.decision {
        SamplingDecision::RecordAndSample => Decision::Sampled,
        SamplingDecision::Drop | SamplingDecision::RecordOnly => {
            Decision::Unsampled(SpanContext::new(
                trace_id,
                ids.new_span_id(),
                TraceFlags::default(),
                false,
                result.trace_state,
            ))
        }
    }
}

/// The trace the caller's `traceparent`/`tracestate` in `headers` name; an
/// empty context when they are missing or malformed.
pub fn incoming(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract_with_context(&Context::new(), &Headers(headers))
}

/// Makes `span`, not entered yet, a server span named `name`, a child of
/// `parent`, and records its ids (see [`record_ids`]). `span` must declare
/// `otel.name`, `otel.kind`, `trace_id` and `span_id`.
pub fn serve(span: &Span, name: &str, parent: Context) -> Option<SpanContext> {
    span.record("otel.name", name);
    // The span is unstarted: this cannot fail but without the layer.
    let _ = span.set_parent(parent);
    record_ids(span)
}

/// Records `span`'s trace and span ids as its `trace_id` and `span_id`
/// fields (it must declare them), which starts its OpenTelemetry span;
/// returns them (with whether the span is sampled), `None` without.
pub fn record_ids(span: &Span) -> Option<SpanContext> {
    let context = span.context();
    let ids = context.span().span_context().clone();
    if !ids.is_valid() {
        return None;
    }
    log_ids(span, &ids);
    Some(ids)
}

/// Records `ids` as `span`'s `trace_id` and `span_id` fields, for its log
/// lines; nothing is formatted unless a log line is written.
pub fn log_ids(span: &Span, ids: &SpanContext) {
    span.record("trace_id", tracing::field::display(ids.trace_id()));
    span.record("span_id", tracing::field::display(ids.span_id()));
}

/// A REST request refused before it became an RPC (a bad token, a body
/// that is not the route's JSON, too large): its server span, from
/// `started` to now, in the trace `parent` names, when that trace is
/// sampled. Named and described as HTTP's conventions say; an answer of
/// 5xx marks it failed. Call only when [`enabled`].
pub fn refused(
    parent: &Context,
    started: SystemTime,
    method: &http::Method,
    route: &'static str,
    status: http::StatusCode,
) {
    let (Decision::Sampled, Some(tracer)) = (decide(parent), TRACER.get()) else {
        return;
    };
    let mut span = tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_start_time(started)
        .with_attributes([
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
        ])
        .start_with_context(tracer, parent);
    if status.is_server_error() {
        span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
        span.set_status(Status::error(status.to_string()));
    }
    span.end();
}

/// `ids` as W3C headers: `traceparent`, and `tracestate` when not empty.
pub fn w3c(ids: &SpanContext) -> (String, Option<String>) {
    let parent = format!(
        "00-{}-{}-{:02x}",
        ids.trace_id(),
        ids.span_id(),
        ids.trace_flags().to_u8()
    );
    let state = ids.trace_state().header();
    (parent, (!state.is_empty()).then_some(state))
}

/// Sets an attribute of `span`'s OpenTelemetry span, beside its fields.
pub fn set_attribute(span: &Span, key: &'static str, value: impl Into<Value>) {
    span.set_attribute(key, value);
}

/// Marks `span` as failed, with `description`.
pub fn set_error(span: &Span, description: String) {
    span.set_status(Status::error(description));
}

/// The remote parent that `traceparent` and `tracestate` name, for
/// [`OpenTelemetrySpanExt::set_parent`]; `None` when `traceparent` is not a
/// valid W3C trace context.
pub fn parent_from(traceparent: &str, tracestate: Option<&str>) -> Option<Context> {
    let pair = Pair {
        traceparent,
        tracestate,
    };
    let context = TraceContextPropagator::new().extract_with_context(&Context::new(), &pair);
    context.span().span_context().is_valid().then_some(context)
}

/// A stored `traceparent` and `tracestate`, read without copying them.
struct Pair<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for Pair<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// HTTP headers (gRPC metadata among them) as the propagator reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Root, Sampling};
    use crate::telemetry::export::sampler;

    #[test]
    fn a_traceparent_names_a_remote_parent() {
        let parent = parent_from(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("vendor=x"),
        )
        .expect("a valid traceparent");
        let ids = parent.span().span_context().clone();
        assert_eq!(
            ids.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(ids.span_id().to_string(), "00f067aa0ba902b7");
        assert!(ids.is_remote() && ids.is_sampled());
        assert_eq!(ids.trace_state().header(), "vendor=x");
        for wrong in [
            "",
            "00-xyz",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert!(parent_from(wrong, None).is_none(), "{wrong}");
        }
    }

    fn unsampled(decision: Decision) -> SpanContext {
        match decision {
            Decision::Unsampled(ids) => ids,
            Decision::Sampled => panic!("sampled"),
        }
    }

    #[test]
    fn the_decision_follows_the_sampler_and_an_unsampled_span_keeps_its_parents_trace() {
        let parent_based = sampler(Sampling::ParentBased(Root::AlwaysOn));
        let unsampled_parent = parent_from(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            Some("vendor=x"),
        )
        .unwrap();
        let ids = unsampled(decide_with(&parent_based, &unsampled_parent));
        assert_eq!(
            ids.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_ne!(ids.span_id().to_string(), "00f067aa0ba902b7");
        assert!(ids.is_valid() && !ids.is_sampled());
        assert_eq!(ids.trace_state().header(), "vendor=x");
        assert!(matches!(
            decide_with(&parent_based, &Context::new()),
            Decision::Sampled
        ));
        let sampled_parent = parent_from(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            None,
        )
        .unwrap();
        let never_at_the_root = sampler(Sampling::ParentBased(Root::AlwaysOff));
        assert!(matches!(
            decide_with(&never_at_the_root, &sampled_parent),
            Decision::Sampled
        ));
        let root = unsampled(decide_with(&never_at_the_root, &Context::new()));
        assert!(root.is_valid() && !root.is_sampled(), "a new trace");
        // Not parent-based: the sampler alone decides.
        assert!(matches!(
            decide_with(&sampler(Sampling::AlwaysOn), &unsampled_parent),
            Decision::Sampled
        ));
        unsampled(decide_with(&sampler(Sampling::AlwaysOff), &sampled_parent));
        unsampled(decide_with(&sampler(Sampling::Ratio(0.0)), &Context::new()));
        assert!(matches!(
            decide_with(&sampler(Sampling::Ratio(1.0)), &Context::new()),
            Decision::Sampled
        ));
    }
}
