//! Issue 25's "a dead collector costs a bounded buffer", black-box: with
//! every trace sampled and a collector that never answers, spans wait in
//! the batch processor's bounded queue (OTEL_BSP_MAX_QUEUE_SIZE) and the
//! rest are dropped, so the service's resident memory stays flat however
//! many events it publishes and delivers.

use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::support::otlp::SilentCollector;
use crate::support::process::ServiceProcess;
use crate::support::receiver::Receiver;
use crate::support::{authorized, publisher_token, to_struct};
use webhook_service::grpc::proto::PublishEventRequest;
use webhook_service::grpc::proto::event_service_client::EventServiceClient;

/// Publishing calls in flight at once.
const CONCURRENCY: usize = 128;

/// The service's resident memory, in KiB.
fn rss_kib(service: &ServiceProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", service.pid())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Publishes `events` events for `organization`, CONCURRENCY at a time,
/// then waits until the receiver has had `delivered` requests in all.
async fn publish_and_deliver(
    service: &ServiceProcess,
    receiver: &Receiver,
    organization: Uuid,
    events: usize,
    delivered: usize,
) {
    let mut calls = JoinSet::new();
    for task in 0..CONCURRENCY {
        let channel = service.channel();
        calls.spawn(async move {
            for n in (task..events).step_by(CONCURRENCY) {
                let request = PublishEventRequest {
                    organization_id: organization.to_string(),
                    r#type: "member.added".to_owned(),
                    data: Some(to_struct(json!({ "n": n }))),
                    ..Default::default()
                };
                EventServiceClient::new(channel.clone())
                    .publish_event(authorized(request, &publisher_token()))
                    .await
                    .expect("published with the collector silent");
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    receiver
        .wait_for("/hook", delivered, Duration::from_secs(60))
        .await;
}

/// Spans per event: the RPC's, the commit's and the one attempt's.
const SPANS_PER_EVENT: usize = 3;
/// Events before the first measure: more spans than the queue and the
/// batches being built and exported hold (2048 + 2 x 512), so that the
/// queue is full and memory has settled by then.
const WARM_UP: usize = 1152;
/// Events after it: 12,288 spans, over 20 MiB if they were all kept.
const EVENTS: usize = 4096;
/// The growth allowed: a bounded queue, full since the warm-up, adds
/// nothing but the allocator's noise (under 3 MiB seen); an unbounded one
/// adds about 1.8 KiB per span (22 MiB for 12,288 spans seen).
const MAX_GROWTH_KIB: u64 = 8 * 1024;

/// Run it with `OTEL_BSP_MAX_QUEUE_SIZE=100000000` in the environment (the
/// service inherits it) to see it fail: the queue then keeps every span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_collector_silent_memory_stays_bounded_while_thousands_of_events_are_traced() {
    let dir = TempDir::new().unwrap();
    let receiver = Receiver::start().await;
    receiver.always("/hook", 200);
    let collector = SilentCollector::start().await;
    let ca_file = receiver.ca_file.to_str().unwrap().to_owned();
    let endpoint = collector.endpoint();
    let service = ServiceProcess::start(
        &format!("sqlite://{}/w.db?mode=rwc", dir.path().display()),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_TRACES_SAMPLER", "always_on"),
            // The spans keep their info lines as events; the log need not.
            (
                "RUST_LOG",
                "warn,webhook_service=info,webhook_service::grpc=warn",
            ),
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("WEBHOOK_CA_FILE", &ca_file),
        ],
    )
    .await;
    let organization = Uuid::new_v4();
    service
        .subscribe(organization, &receiver.url("/hook"))
        .await;

    publish_and_deliver(&service, &receiver, organization, WARM_UP, WARM_UP).await;
    let before = rss_kib(&service);
    publish_and_deliver(&service, &receiver, organization, EVENTS, WARM_UP + EVENTS).await;
    let after = rss_kib(&service);
    let growth = after.saturating_sub(before);
    eprintln!(
        "{} spans: resident {before} KiB after the warm-up, {after} KiB at the end (+{growth} KiB)",
        EVENTS * SPANS_PER_EVENT
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "resident memory grew by {growth} KiB (from {before} KiB) over {} spans",
        EVENTS * SPANS_PER_EVENT
    );
    // And the collector was as good as dead: exports hung until their
    // timeout (10 s) and failed.
    service
        .wait_for_log(Duration::from_secs(20), |log| {
            log.contains("cannot export spans to the collector")
        })
        .await;
}
