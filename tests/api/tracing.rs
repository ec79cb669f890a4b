//! OpenTelemetry traces, black-box: the binary exports to a real OTLP
//! collector (support/otlp.rs) and each RPC's server span continues the
//! caller's `traceparent`, over gRPC and REST (a REST call refused before
//! its RPC too); a dead collector costs
//! nothing but a warning; with no endpoint, nothing is traced.

use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use crate::support::otlp::{Caller, Collector, Received};
use crate::support::process::ServiceProcess;
use crate::support::receiver::Receiver;
use crate::support::rest::Rest;
use crate::support::{authorized, postgres, postgres_available, publisher_token, to_struct};
use webhook_service::grpc::proto::PublishEventRequest;
use webhook_service::grpc::proto::event_service_client::EventServiceClient;

const WAIT: Duration = Duration::from_secs(20);
const PUBLISH: &str = "webhooks.v1.EventService/PublishEvent";
/// SERVER, in OTLP's `Span.SpanKind`.
const SERVER: i32 = 2;

/// The binary on `database_url`, exporting to `endpoint` over gRPC in
/// batches sent every 50ms, logging JSON, with `envs` besides.
async fn traced_service(
    database_url: &str,
    endpoint: Option<&str>,
    envs: &[(&str, &str)],
) -> ServiceProcess {
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("LOG_FORMAT", "json"),
        ("WEBHOOK_HTTP_ADDR", "127.0.0.1:0"),
    ];
    if let Some(endpoint) = endpoint {
        all.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint));
    }
    all.extend_from_slice(envs);
    ServiceProcess::start(database_url, &all).await
}

fn sqlite(dir: &TempDir) -> String {
    format!("sqlite://{}/w.db?mode=rwc", dir.path().display())
}

fn member_added() -> PublishEventRequest {
    PublishEventRequest {
        organization_id: Uuid::new_v4().to_string(),
        r#type: "member.added".to_owned(),
        data: Some(to_struct(json!({ "n": 1 }))),
        ..Default::default()
    }
}

/// PublishEvent over gRPC, with `traceparent` in its metadata if given.
async fn publish_over_grpc(service: &ServiceProcess, traceparent: Option<&str>) {
    let mut request = authorized(member_added(), &publisher_token());
    if let Some(traceparent) = traceparent {
        request
            .metadata_mut()
            .insert("traceparent", traceparent.parse().unwrap());
    }
    EventServiceClient::new(service.channel())
        .publish_event(request)
        .await
        .expect("published");
}

/// The JSON log lines written inside the RPC whose span has `method`,
/// once at least one ("rpc finished") is there.
pub(super) async fn rpc_log_lines(service: &ServiceProcess, method: &str) -> Vec<Value> {
    let lines = |log: &str| -> Vec<Value> {
        log.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["span"]["method"].as_str() == Some(method))
            .collect()
    };
    let finished = |log: &str| {
        lines(log)
            .iter()
            .any(|line| line["message"] == "rpc finished")
    };
    lines(&service.wait_for_log(WAIT, finished).await)
}

fn assert_rpc_server_span(span: &Received, caller: &Caller) {
    assert_eq!(span.span.name, PUBLISH);
    assert_eq!(span.span.kind, SERVER);
    assert_eq!(
        span.parent_span_id(),
        caller.span_id,
        "the caller's span is its parent"
    );
    for (key, value) in [
        ("rpc.system", "grpc"),
        ("rpc.service", "webhooks.v1.EventService"),
        ("rpc.method", "PublishEvent"),
        ("rpc.grpc.status_code", "0"),
    ] {
        assert_eq!(span.attribute(key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(
        span.resource_attribute("service.name").as_deref(),
        Some("webhook-service")
    );
}

#[tokio::test]
async fn a_rest_call_refused_before_its_rpc_has_a_server_span_too() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start().await;
    let service = traced_service(&sqlite(&dir), Some(&collector.endpoint()), &[]).await;
    let rest = Rest::at(format!("http://{}", service.http_address().await));
    let path = format!("/v1/organizations/{}/events", Uuid::new_v4());
    let good = format!("Bearer {}", publisher_token());
    for (token, body, status) in [
        ("Bearer not-a-token", r#"{"type": "member.added"}"#, 401),
        (good.as_str(), r#"{"type": "#, 400),
    ] {
        let caller = Caller::new();
        let traceparent = caller.traceparent();
        let headers = [
            ("authorization", token),
            ("content-type", "application/json"),
            ("traceparent", traceparent.as_str()),
        ];
        let answer = rest.send("POST", &path, &headers, body.into()).await;
        assert_eq!(answer.status, status, "{}", answer.body);

        let span = collector
            .wait_for_span(WAIT, |s| s.trace_id() == caller.trace_id)
            .await;
        assert_eq!(
            span.span.name,
            "POST /v1/organizations/{organizationId}/events"
        );
        assert_eq!(span.span.kind, SERVER);
        assert_eq!(span.parent_span_id(), caller.span_id);
        assert_eq!(
            span.attribute("http.response.status_code"),
            Some(status.to_string())
        );
        assert_eq!(
            span.attribute("http.request.method").as_deref(),
            Some("POST")
        );
        // A client's error is not the server's failure.
        let code = span.span.status.clone().unwrap_or_default().code;
        assert_ne!(code, 2, "{status} marked failed");
    }
}

async fn a_grpc_publish_continues_the_callers_trace(database_url: &str) {
    let collector = Collector::start().await;
    let service = traced_service(database_url, Some(&collector.endpoint()), &[]).await;
    let caller = Caller::new();
    publish_over_grpc(&service, Some(&caller.traceparent())).await;

    let span = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.kind == SERVER
        })
        .await;
    assert_rpc_server_span(&span, &caller);
    let span_id = hex::encode(&span.span.span_id);

    let lines = rpc_log_lines(&service, &format!("/{PUBLISH}")).await;
    for line in &lines {
        assert_eq!(line["span"]["trace_id"], caller.trace_id.as_str(), "{line}");
        assert_eq!(line["span"]["span_id"], span_id.as_str(), "{line}");
    }
}

#[tokio::test]
async fn a_grpc_publish_with_a_traceparent_yields_a_server_span_in_that_trace_and_logs_its_ids() {
    let dir = TempDir::new().unwrap();
    a_grpc_publish_continues_the_callers_trace(&sqlite(&dir)).await;
}

#[tokio::test]
async fn a_grpc_publish_continues_the_callers_trace_on_postgres_too() {
    if !postgres_available() {
        return;
    }
    a_grpc_publish_continues_the_callers_trace(&postgres::fresh_database().unwrap()).await;
}

#[tokio::test]
async fn a_rest_publish_with_a_traceparent_yields_a_server_span_with_http_attributes() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start().await;
    let service = traced_service(&sqlite(&dir), Some(&collector.endpoint()), &[]).await;
    let caller = Caller::new();
    let rest = Rest::at(format!("http://{}", service.http_address().await));
    let token = format!("Bearer {}", publisher_token());
    let path = format!("/v1/organizations/{}/events", Uuid::new_v4());
    let body = json!({"type": "member.added", "data": {"n": 1}});
    let traceparent = caller.traceparent();
    let answer = rest
        .send(
            "POST",
            &path,
            &[
                ("authorization", &token),
                ("content-type", "application/json"),
                ("traceparent", &traceparent),
            ],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert!(answer.status < 300, "{}: {}", answer.status, answer.body);

    let span = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.kind == SERVER
        })
        .await;
    assert_rpc_server_span(&span, &caller);
    for (key, value) in [
        ("http.request.method", "POST".to_owned()),
        (
            "http.route",
            "/v1/organizations/{organizationId}/events".to_owned(),
        ),
        ("http.response.status_code", answer.status.to_string()),
    ] {
        assert_eq!(span.attribute(key), Some(value), "{key}");
    }
}

#[tokio::test]
async fn the_default_protocol_http_protobuf_exports_to_v1_traces() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start_http().await;
    let endpoint = collector.endpoint();
    let service = ServiceProcess::start(
        &sqlite(&dir),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .await;
    let caller = Caller::new();
    publish_over_grpc(&service, Some(&caller.traceparent())).await;
    let span = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.kind == SERVER
        })
        .await;
    assert_rpc_server_span(&span, &caller);
    assert!(
        service.log().contains("exporting traces"),
        "{}",
        service.log()
    );
}

#[tokio::test]
async fn spans_still_queued_are_exported_at_graceful_shutdown() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start().await;
    // A batch would leave after a minute: only the shutdown's flush sends it.
    let mut service = traced_service(
        &sqlite(&dir),
        Some(&collector.endpoint()),
        &[("OTEL_BSP_SCHEDULE_DELAY", "60000")],
    )
    .await;
    let caller = Caller::new();
    publish_over_grpc(&service, Some(&caller.traceparent())).await;
    rpc_log_lines(&service, &format!("/{PUBLISH}")).await;
    assert!(collector.spans().is_empty(), "exported before the shutdown");
    service.terminate();
    assert!(service.exit_within(WAIT).await.success());
    let span = collector
        .wait_for_span(Duration::ZERO, |s| {
            s.trace_id() == caller.trace_id && s.span.kind == SERVER
        })
        .await;
    assert_rpc_server_span(&span, &caller);
}

#[tokio::test]
async fn with_the_collector_down_publishing_and_delivery_go_on_and_a_warning_is_logged() {
    let dir = TempDir::new().unwrap();
    let receiver = Receiver::start().await;
    receiver.always("/hook", 200);
    let ca_file = receiver.ca_file.to_str().unwrap().to_owned();
    let service = traced_service(
        &sqlite(&dir),
        Some(&Collector::refusing_endpoint()),
        &[
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("WEBHOOK_CA_FILE", &ca_file),
        ],
    )
    .await;
    let organization = Uuid::new_v4();
    service
        .subscribe(organization, &receiver.url("/hook"))
        .await;
    let caller = Caller::new();
    let mut request = member_added();
    request.organization_id = organization.to_string();
    let mut request = authorized(request, &publisher_token());
    request
        .metadata_mut()
        .insert("traceparent", caller.traceparent().parse().unwrap());
    EventServiceClient::new(service.channel())
        .publish_event(request)
        .await
        .expect("publishing answers OK with the collector down");

    receiver.wait_for("/hook", 1, WAIT).await;
    let log = service
        .wait_for_log(WAIT, |log| {
            log.contains("cannot export spans to the collector")
        })
        .await;
    let warnings = log
        .lines()
        .filter(|line| line.contains("cannot export spans to the collector"))
        .count();
    assert_eq!(warnings, 1, "said once, not per batch");
}

#[tokio::test]
async fn with_no_endpoint_nothing_is_traced_and_logs_carry_no_trace_id() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start().await;
    // Everything but the endpoint: the collector listens, unnamed.
    let service = traced_service(&sqlite(&dir), None, &[]).await;
    let caller = Caller::new();
    publish_over_grpc(&service, Some(&caller.traceparent())).await;
    // A later call's log line proves the first one's were written.
    publish_over_grpc(&service, None).await;
    let log = service
        .wait_for_log(WAIT, |log| log.matches("rpc finished").count() >= 2)
        .await;
    assert!(!log.contains("trace_id"), "{log}");
    assert!(!log.contains(&caller.trace_id), "{log}");
    assert!(!log.contains("exporting traces"), "{log}");
    assert!(collector.spans().is_empty());
}
