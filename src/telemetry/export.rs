//! The OTLP pipeline: the exporter (gRPC or http/protobuf, over TLS to an
//! `https://` collector), its bounded batch queue on the tokio runtime, the
//! OpenTelemetry layer it feeds, and the flush at shutdown
//! (docs/tracing.md). Without an endpoint none of it is built.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::resource::{Resource, TelemetryResourceDetector};
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use secrecy::ExposeSecret;
use tonic::transport::{ClientTlsConfig, Identity};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::registry::LookupSpan;

use super::traces;
use crate::config::{CollectorTls, OtlpProtocol, Root, Sampling, TraceSettings};

/// The longest one http/protobuf export request may take (OTLP's default).
const HTTP_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the last spans may take to leave at shutdown.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

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
    let sampling = sampler(settings.sampling().map_err(anyhow::Error::msg)?);
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
    // The sampler decides before any span is made (`traces::decide`): the spans
    // the layer sees all belong to sampled traces.
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::AlwaysOn)
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
        .with_filter(
            filter_fn(|meta| {
                if meta.is_span() {
                    meta.fields().field("otel.kind").is_some()
                } else {
                    *meta.level() <= tracing::Level::INFO
                }
            })
            // Without the hint, `tracing` would think this layer wants
            // debug and trace events, and every such line of every crate
            // would be built and offered to it.
            .with_max_level_hint(LevelFilter::INFO),
        )
        .boxed();
    traces::install(sampling, provider.tracer("webhook-service"));
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

pub(super) fn sampler(sampling: Sampling) -> Sampler {
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
    fn without_an_endpoint_no_layer_is_installed() {
        let settings = crate::config::Cli::try_parse_args_from(["webhook-service"]).unwrap();
        let crate::config::Command::Serve(settings) = settings.command else {
            panic!("serve is the default command");
        };
        let (layer, tracing) = start::<tracing_subscriber::Registry>(&settings.traces).unwrap();
        assert!(layer.is_none());
        assert!(tracing.provider.is_none());
        assert!(!traces::enabled());
    }
}
