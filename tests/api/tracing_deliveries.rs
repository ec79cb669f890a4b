//! Traces from the publisher to the receiver, black-box: the binary exports
//! to a real OTLP collector; an event's attempts are client spans in the
//! publisher's trace (children of its PublishEvent span, beside the
//! outbox's commit), retries too, even when another run of the service
//! makes them; and each request's `traceparent` names its attempt's span,
//! unless WEBHOOK_PROPAGATE_TRACE is off or traces are.

use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;
use webhook_service::grpc::proto::PublishEventRequest;
use webhook_service::grpc::proto::event_service_client::EventServiceClient;

use crate::support::otlp::{Caller, Collector, Received};
use crate::support::process::ServiceProcess;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{authorized, postgres, postgres_available, publisher_token, to_struct};

const WAIT: Duration = Duration::from_secs(20);
const PUBLISH: &str = "webhooks.v1.EventService/PublishEvent";
/// OTLP's `Span.SpanKind`.
const INTERNAL: i32 = 1;
const CLIENT: i32 = 3;
/// Retries every 200ms, long enough to outlast a restart.
const QUICK_RETRIES: &str = "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,\
                             200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms";

/// The binary on `database_url`, delivering to `receiver`, exporting to
/// `collector` (none: traces off) in batches sent every 50ms.
async fn service(
    database_url: &str,
    receiver: &Receiver,
    collector: Option<&Collector>,
    envs: &[(&str, &str)],
) -> ServiceProcess {
    let ca_file = receiver.ca_file.to_str().unwrap().to_owned();
    let endpoint = collector.map(Collector::endpoint);
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ("WEBHOOK_CA_FILE", ca_file.as_str()),
        ("WEBHOOK_RETRY_SCHEDULE", QUICK_RETRIES),
        ("WEBHOOK_POLL_INTERVAL", "100ms"),
    ];
    if let Some(endpoint) = &endpoint {
        all.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()));
    }
    all.extend_from_slice(envs);
    ServiceProcess::start(database_url, &all).await
}

fn sqlite(dir: &TempDir) -> String {
    format!("sqlite://{}/w.db?mode=rwc", dir.path().display())
}

/// Publishes a `member.added` for `organization` within `caller`'s trace.
pub async fn publish(service: &ServiceProcess, organization: Uuid, caller: &Caller) {
    let request = PublishEventRequest {
        organization_id: organization.to_string(),
        r#type: "member.added".to_owned(),
        data: Some(to_struct(json!({ "n": 1 }))),
        ..Default::default()
    };
    let mut request = authorized(request, &publisher_token());
    request
        .metadata_mut()
        .insert("traceparent", caller.traceparent().parse().unwrap());
    EventServiceClient::new(service.channel())
        .publish_event(request)
        .await
        .expect("published");
}

fn span_id(span: &Received) -> String {
    hex::encode(&span.span.span_id)
}

/// The attempt span of `caller`'s trace numbered `attempt`.
async fn attempt_span(collector: &Collector, caller: &Caller, attempt: u32) -> Received {
    collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id
                && s.span.kind == CLIENT
                && s.attribute("attempt") == Some(attempt.to_string())
        })
        .await
}

async fn attempts_are_spans_of_the_publishing_trace_named_by_their_traceparent(database_url: &str) {
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    receiver.script("/hook", [Reply::status(500), Reply::status(200)]);
    let service = service(database_url, &receiver, Some(&collector), &[]).await;
    let organization = Uuid::new_v4();
    let webhook = service
        .subscribe(
            organization,
            &format!("{}?token=s3cret", receiver.url("/hook")),
        )
        .await;
    let caller = Caller::new();
    publish(&service, organization, &caller).await;
    let requests = receiver.wait_for("/hook", 2, WAIT).await;

    let rpc = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.name == PUBLISH
        })
        .await;
    assert_eq!(rpc.parent_span_id(), caller.span_id);
    let commit = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.name == "outbox commit"
        })
        .await;
    assert_eq!(commit.span.kind, INTERNAL);
    assert_eq!(commit.parent_span_id(), span_id(&rpc));
    let expected_database = if database_url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgresql"
    };
    assert_eq!(
        commit.attribute("db.system.name").as_deref(),
        Some(expected_database)
    );

    for (n, (request, status)) in requests.iter().zip([500, 200]).enumerate() {
        let attempt = attempt_span(&collector, &caller, n as u32 + 1).await;
        assert_eq!(attempt.span.name, "POST");
        assert_eq!(
            attempt.parent_span_id(),
            span_id(&rpc),
            "every attempt, the retry too, is a child of the PublishEvent span"
        );
        assert_eq!(
            request.header("traceparent"),
            format!("00-{}-{}-01", caller.trace_id, span_id(&attempt)),
            "the request names its attempt's span"
        );
        for (key, value) in [
            ("http.request.method", "POST".to_owned()),
            ("http.response.status_code", status.to_string()),
            ("server.address", "127.0.0.1".to_owned()),
            ("server.port", receiver.port.to_string()),
            (
                "url.full",
                format!("{}?token=REDACTED", receiver.url("/hook")),
            ),
            ("webhook_id", webhook.clone()),
        ] {
            assert_eq!(attribute(&attempt, key), value, "{key} of attempt {n}");
        }
        assert!(attempt.attribute("delivery_id").is_some());
    }
    let failed = attempt_span(&collector, &caller, 1).await;
    assert_eq!(attribute(&failed, "error.type"), "500");
    assert_eq!(attribute(&failed, "outcome"), "http_error");
    let status = failed.span.status.clone().unwrap_or_default();
    assert_eq!(status.code, 2, "ERROR: {status:?}");
    let delivered = attempt_span(&collector, &caller, 2).await;
    assert_eq!(attribute(&delivered, "outcome"), "success");
    assert_eq!(delivered.attribute("error.type"), None);
}

fn attribute(span: &Received, key: &str) -> String {
    span.attribute(key)
        .unwrap_or_else(|| panic!("no {key} on {:?}", span.span))
}

#[tokio::test]
async fn sqlite_attempts_are_spans_of_the_publishing_trace_named_by_their_traceparent() {
    let dir = TempDir::new().unwrap();
    attempts_are_spans_of_the_publishing_trace_named_by_their_traceparent(&sqlite(&dir)).await;
}

#[tokio::test]
async fn postgres_attempts_are_spans_of_the_publishing_trace_named_by_their_traceparent() {
    if !postgres_available() {
        return;
    }
    attempts_are_spans_of_the_publishing_trace_named_by_their_traceparent(
        &postgres::fresh_database().unwrap(),
    )
    .await;
}

#[tokio::test]
async fn a_retry_made_after_a_restart_joins_the_publishing_trace() {
    let dir = TempDir::new().unwrap();
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    receiver.always("/hook", 503);
    let mut first = service(&sqlite(&dir), &receiver, Some(&collector), &[]).await;
    let organization = Uuid::new_v4();
    first.subscribe(organization, &receiver.url("/hook")).await;
    let caller = Caller::new();
    publish(&first, organization, &caller).await;
    receiver.wait_for("/hook", 1, WAIT).await;
    let rpc = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.name == PUBLISH
        })
        .await;
    first.terminate();
    first.exit_within(WAIT).await;

    // Only the next run can succeed: the first is gone.
    let failed_before = receiver.received("/hook").len();
    receiver.always("/hook", 200);
    let _second = service(&sqlite(&dir), &receiver, Some(&collector), &[]).await;
    let delivered = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id
                && s.span.kind == CLIENT
                && s.attribute("http.response.status_code").as_deref() == Some("200")
        })
        .await;
    assert_eq!(delivered.parent_span_id(), span_id(&rpc));
    let attempt: usize = attribute(&delivered, "attempt").parse().unwrap();
    assert_eq!(attempt, failed_before + 1, "the retry after the failures");
    let last = receiver.received("/hook").pop().unwrap();
    assert_eq!(
        last.header("traceparent"),
        format!("00-{}-{}-01", caller.trace_id, span_id(&delivered))
    );
}

/// One event published within a fresh caller's trace and delivered by a
/// service on SQLite with `envs`, exporting to `collector` (none: traces
/// off): the caller, the headers of the request delivered, the service.
async fn deliver_one(
    collector: Option<&Collector>,
    envs: &[(&str, &str)],
) -> (Caller, http::HeaderMap, ServiceProcess, TempDir) {
    let dir = TempDir::new().unwrap();
    let receiver = Receiver::start().await;
    receiver.always("/hook", 200);
    let service = service(&sqlite(&dir), &receiver, collector, envs).await;
    let organization = Uuid::new_v4();
    service
        .subscribe(organization, &receiver.url("/hook"))
        .await;
    let caller = Caller::new();
    publish(&service, organization, &caller).await;
    let request = receiver.wait_for("/hook", 1, WAIT).await.remove(0);
    (caller, request.headers, service, dir)
}

#[tokio::test]
async fn with_propagation_off_attempts_are_traced_but_requests_carry_no_traceparent() {
    let collector = Collector::start().await;
    let (caller, headers, _service, _dir) =
        deliver_one(Some(&collector), &[("WEBHOOK_PROPAGATE_TRACE", "false")]).await;
    attempt_span(&collector, &caller, 1).await;
    assert!(headers.get("traceparent").is_none());
    assert!(headers.get("tracestate").is_none());
}

#[tokio::test]
async fn with_traces_off_requests_carry_no_traceparent() {
    let (_, headers, _service, _dir) = deliver_one(None, &[]).await;
    assert!(headers.get("traceparent").is_none());
}

#[tokio::test]
async fn a_quiet_log_keeps_its_traces() {
    let collector = Collector::start().await;
    // Quiet but for the line that says where it serves.
    let quiet = [(
        "RUST_LOG",
        "warn,webhook_service=info,webhook_service::grpc=warn",
    )];
    let (caller, _, service, _dir) = deliver_one(Some(&collector), &quiet).await;
    let attempt = attempt_span(&collector, &caller, 1).await;
    let rpc = collector
        .wait_for_span(WAIT, |s| {
            s.trace_id() == caller.trace_id && s.span.name == PUBLISH
        })
        .await;
    assert_eq!(attempt.parent_span_id(), span_id(&rpc));
    assert!(!service.log().contains("rpc finished"), "{}", service.log());
}
