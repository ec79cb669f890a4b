//! OTLP over TLS, black-box: the binary exports to a test collector
//! (support/otlp.rs) whose certificate a CA made at test time signed, over
//! gRPC and over HTTP, trusting that CA through
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` and presenting a client certificate
//! when the collector demands one; a collector it cannot trust gets
//! nothing, and a CA file it cannot read stops it at start-up.

use std::time::Duration;

use tempfile::TempDir;
use uuid::Uuid;

use crate::cli::start_failure;
use crate::support::JWT_SECRET;
use crate::support::otlp::{Caller, Collector, Otlp};
use crate::support::otlp_tls::{CollectorPki, ServerTls};
use crate::support::process::ServiceProcess;
use crate::tracing_deliveries::publish;

const WAIT: Duration = Duration::from_secs(20);
/// SERVER, in OTLP's `Span.SpanKind`.
const SERVER: i32 = 2;
const EXPORT_FAILED: &str = "cannot export spans to the collector";

/// The binary exporting to `collector` over `protocol`, in batches sent
/// every 50ms, with `envs` besides.
async fn traced_service(
    dir: &TempDir,
    protocol: Otlp,
    collector: &Collector,
    envs: &[(&str, &str)],
) -> ServiceProcess {
    let protocol = match protocol {
        Otlp::Grpc => "grpc",
        Otlp::Http => "http/protobuf",
    };
    let endpoint = collector.endpoint();
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ];
    all.extend_from_slice(envs);
    let database_url = format!("sqlite://{}/w.db?mode=rwc", dir.path().display());
    ServiceProcess::start(&database_url, &all).await
}

/// A collector over TLS gets the RPC's server span, the service trusting
/// its CA, and with `mutual` presenting the client certificate it demands.
async fn spans_arrive_over_tls(protocol: Otlp, mutual: bool) {
    let dir = TempDir::new().unwrap();
    let pki = CollectorPki::new();
    let collector = Collector::serve(protocol, Some(&pki.server(mutual))).await;
    assert!(collector.endpoint().starts_with("https://"));
    let ca_file = pki.ca_file.to_str().unwrap();
    let certificate = pki.client_certificate.to_str().unwrap();
    let key = pki.client_key.to_str().unwrap();
    let mut envs = vec![("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file)];
    if mutual {
        envs.push(("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", certificate));
        envs.push(("OTEL_EXPORTER_OTLP_CLIENT_KEY", key));
    }
    let service = traced_service(&dir, protocol, &collector, &envs).await;
    let caller = Caller::new();
    publish(&service, Uuid::new_v4(), &caller.traceparent()).await;
    let span = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.kind == SERVER
        })
        .await;
    assert_eq!(span.parent_span_id(), caller.span_id);
    assert!(!service.log().contains(EXPORT_FAILED), "{}", service.log());
}

#[tokio::test]
async fn spans_reach_a_grpc_collector_over_tls_whose_ca_the_certificate_variable_names() {
    spans_arrive_over_tls(Otlp::Grpc, false).await;
}

#[tokio::test]
async fn spans_reach_an_http_protobuf_collector_over_tls_whose_ca_the_certificate_variable_names() {
    spans_arrive_over_tls(Otlp::Http, false).await;
}

#[tokio::test]
async fn a_grpc_collector_demanding_a_client_certificate_gets_spans_from_the_configured_one() {
    spans_arrive_over_tls(Otlp::Grpc, true).await;
}

#[tokio::test]
async fn an_http_protobuf_collector_demanding_a_client_certificate_gets_spans_from_the_configured_one()
 {
    spans_arrive_over_tls(Otlp::Http, true).await;
}

/// The service, trusting only `pki`'s CA, cannot hand `server` a span:
/// publishing goes on, the export warning is logged, nothing arrives.
async fn nothing_arrives(protocol: Otlp, pki: &CollectorPki, server: &ServerTls) {
    let dir = TempDir::new().unwrap();
    let collector = Collector::serve(protocol, Some(server)).await;
    let ca_file = pki.ca_file.to_str().unwrap();
    let service = traced_service(
        &dir,
        protocol,
        &collector,
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file)],
    )
    .await;
    let caller = Caller::new();
    publish(&service, Uuid::new_v4(), &caller.traceparent()).await;
    service
        .wait_for_log(WAIT, |log| log.contains(EXPORT_FAILED))
        .await;
    // Publishing still answers once exports have failed.
    publish(&service, Uuid::new_v4(), &Caller::new().traceparent()).await;
    assert!(collector.spans().is_empty());
}

#[tokio::test]
async fn a_collector_whose_certificate_another_ca_signed_gets_nothing_over_grpc_or_http() {
    let trusted = CollectorPki::new();
    let other = CollectorPki::new();
    for protocol in [Otlp::Grpc, Otlp::Http] {
        nothing_arrives(protocol, &trusted, &other.server(false)).await;
    }
}

#[tokio::test]
async fn a_collector_demanding_a_client_certificate_gets_nothing_without_one() {
    let pki = CollectorPki::new();
    for protocol in [Otlp::Grpc, Otlp::Http] {
        nothing_arrives(protocol, &pki, &pki.server(true)).await;
    }
}

#[test]
fn an_https_endpoint_with_a_ca_file_missing_or_not_pem_stops_the_service_at_start_up() {
    let dir = TempDir::new().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for ca_file in [dir.path().join("missing.pem"), not_pem] {
        for protocol in ["grpc", "http/protobuf"] {
            let ca = ca_file.to_str().unwrap();
            let stderr = start_failure(&[
                ("JWT_SECRET", JWT_SECRET),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
            ]);
            assert!(
                stderr.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && stderr.contains(ca),
                "{protocol} {ca}: {stderr}"
            );
        }
    }
}
