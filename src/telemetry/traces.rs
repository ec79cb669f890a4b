//! OpenTelemetry traces: spans exported over OTLP to a collector, in
//! batches, when an endpoint is set (docs/tracing.md). With none, no layer
//! is installed and [`enabled`] is false: the code that makes spans asks
//! it before doing anything for traces (no header is parsed, no id made).
//!
//! Only spans that declare an `otel.kind` field are exported (so far the
//! RPC's server span, `grpc::observe`); the others stay log context. Code
//! below creates spans through `tracing` and uses the helpers here to join
//! a caller's trace, or to hand its own on as W3C `traceparent` and
//! `tracestate` strings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, Status, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::{Resource, TelemetryResourceDetector};
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use secrecy::ExposeSecret;
use tonic::transport::{ClientTlsConfig, Identity};
use tracing::{Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{CollectorTls, OtlpProtocol, Root, Sampling, TraceSettings};

/// Set once at start-up, when the OpenTelemetry layer is installed.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The longest one http/protobuf export request may take (OTLP's default).
const HTTP_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the last spans may take to leave at shutdown.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Whether spans are exported: one relaxed load, for the hot path.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The exporter's pipeline while the service runs; [`Tracing::shutdown`]
/// sends what is still queued.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Exports the spans still queued, waiting at most a few seconds (a
    /// dead collector must not hold the exit up); call it while the tokio
    /// runtime still runs, outside it.
    pub fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(provider.shutdown());
        });
        match finished.recv_timeout(FLUSH_GRACE) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "the last spans were not exported"),
            Err(_) => tracing::warn!(
                waited = ?FLUSH_GRACE,
                "the last spans were not exported: the collector did not answer in time"
            ),
        }
    }
}

/// The layer that turns spans into OpenTelemetry spans.
type SpansLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// The OpenTelemetry layer the settings ask for (none without an endpoint),
/// and its pipeline. Must run inside the tokio runtime.
pub(super) fn start<S>(settings: &TraceSettings) -> anyhow::Result<(Option<SpansLayer<S>>, Tracing)>
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let Some(url) = settings.export_url() else {
        return Ok((None, Tracing { provider: None }));
    };
    let sampler = sampler(settings.sampling().map_err(anyhow::Error::msg)?);
    // Read even for an http:// endpoint: a wrong file is a wrong setting.
    let tls = settings.tls.read()?;
    let exporter = match settings.protocol {
        OtlpProtocol::Grpc => {
            let builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(url.clone());
            if url.starts_with("https://") {
                builder.with_tls_config(grpc_tls(&tls)).build()
            } else {
                builder.build()
            }
        }
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(http_client(tls.client_config)?)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .build(),
    }
    .with_context(|| format!("cannot set up the OTLP span exporter to {url}"))?;
    let attributes = settings
        .resource_attributes
        .iter()
        .flat_map(|attributes| attributes.0.iter())
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    let resource = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(attributes)
        .with_service_name(settings.service_name.clone())
        .build();
    // The queue is bounded (OTEL_BSP_MAX_QUEUE_SIZE, 2048 spans): when the
    // collector cannot keep up, spans are dropped, never waited for.
    let processor = BatchSpanProcessor::builder(
        Watched::new(exporter, url.clone()),
        opentelemetry_sdk::runtime::Tokio,
    )
    .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("webhook-service");
    // No per-span source location, thread or busy/idle attributes: each
    // costs every span (strings, a clock read at each poll) and says
    // nothing the span's name and ids do not.
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        // Its own filter, not RUST_LOG's: the spans that declare a kind
        // whatever the log level, and as their events the lines a default
        // log keeps (info and above).
        .with_filter(filter_fn(|meta| {
            if meta.is_span() {
                meta.fields().field("otel.kind").is_some()
            } else {
                *meta.level() <= tracing::Level::INFO
            }
        }))
        .boxed();
    ENABLED.store(true, Ordering::Relaxed);
    Ok((
        Some(layer),
        Tracing {
            provider: Some(provider),
        },
    ))
}

/// The client of the http/protobuf exporter. Ours, not the one the SDK
/// would build: reqwest finds no process-wide TLS provider here (we give
/// each client ring explicitly) and would panic building one.
fn http_client(tls: rustls::ClientConfig) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(HTTP_EXPORT_TIMEOUT)
        .build()
        .context("cannot build the OTLP exporter's HTTP client")
}

/// The gRPC exporter's TLS: tonic builds its own rustls client (with ring,
/// the `tls-ring` feature) from the same roots and client certificate.
fn grpc_tls(tls: &CollectorTls) -> ClientTlsConfig {
    let config = ClientTlsConfig::new().trust_anchors(tls.roots.roots.iter().cloned());
    match &tls.identity {
        Some(identity) => config.identity(Identity::from_pem(
            &identity.chain,
            identity.key.expose_secret(),
        )),
        None => config,
    }
}

fn sampler(sampling: Sampling) -> Sampler {
    match sampling {
        Sampling::AlwaysOn => Sampler::AlwaysOn,
        Sampling::AlwaysOff => Sampler::AlwaysOff,
        Sampling::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
        Sampling::ParentBased(root) => Sampler::ParentBased(Box::new(match root {
            Root::AlwaysOn => Sampler::AlwaysOn,
            Root::AlwaysOff => Sampler::AlwaysOff,
            Root::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
        })),
    }
}

/// Makes `span` a server span named `name` that continues the trace of
/// the caller's `traceparent`/`tracestate` in `headers` (a new trace when
/// they are missing or malformed), and records its `trace_id` and
/// `span_id` as fields, for the log lines inside it. `span` must declare
/// `otel.name`, `otel.kind`, `trace_id` and `span_id`, and not have been
/// entered yet. Call only when [`enabled`].
pub fn serve(span: &Span, name: &str, headers: &http::HeaderMap) {
    span.record("otel.name", name);
    span.record("otel.kind", "server");
    let parent =
        TraceContextPropagator::new().extract_with_context(&Context::new(), &Headers(headers));
    // The span is unstarted: this cannot fail but without the layer.
    let _ = span.set_parent(parent);
    record_ids(span);
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
    span.record("trace_id", tracing::field::display(ids.trace_id()));
    span.record("span_id", tracing::field::display(ids.span_id()));
    Some(ids)
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

/// `span`'s trace context as W3C headers: `traceparent`, and `tracestate`
/// when it has one. `None` when traces are off or the span has no context.
pub fn traceparent(span: &Span) -> Option<(String, Option<String>)> {
    if !enabled() {
        return None;
    }
    let context = span.context();
    let span = context.span();
    let ids = span.span_context();
    ids.is_valid().then(|| w3c(ids))
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

/// The OTLP exporter, saying in the log when export starts failing and
/// when it works again (once each, not per batch): the spans of a failing
/// batch are lost, the service goes on.
#[derive(Debug)]
struct Watched {
    inner: opentelemetry_otlp::SpanExporter,
    url: String,
    failing: AtomicBool,
}

impl Watched {
    fn new(inner: opentelemetry_otlp::SpanExporter, url: String) -> Self {
        Self {
            inner,
            url,
            failing: AtomicBool::new(false),
        }
    }
}

impl SpanExporter for Watched {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let exported = self.inner.export(batch).await;
        match &exported {
            Err(err) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(
                    endpoint = %self.url,
                    error = %err,
                    spans,
                    "cannot export spans to the collector; dropping them until it answers"
                );
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(endpoint = %self.url, "exporting spans again");
            }
            _ => {}
        }
        exported
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn without_an_endpoint_no_layer_is_installed() {
        let settings = crate::config::Cli::try_parse_args_from(["webhook-service"]).unwrap();
        let crate::config::Command::Serve(settings) = settings.command else {
            panic!("serve is the default command");
        };
        let (layer, tracing) = start::<tracing_subscriber::Registry>(&settings.traces).unwrap();
        assert!(layer.is_none());
        assert!(tracing.provider.is_none());
        assert!(!enabled());
        assert_eq!(traceparent(&Span::none()), None);
    }
}
