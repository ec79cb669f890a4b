//! The noisy neighbour: organization A keeps every delivery slot busy with a
//! backlog on endpoints that answer after 100 ms, while organization B
//! publishes 20 events a second to one endpoint that answers at once. How
//! long B waits under A's load against idle, and what B costs A.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cost::{Cost, Meter};
use crate::receiver::{Receiver, Reply};
use crate::scenarios::{Databases, percentile, publish};
use crate::service::Service;

/// B's steady rate, events per second.
const B_RATE: f64 = 20.0;
/// How long A's endpoints take to answer.
const A_ANSWER: Duration = Duration::from_millis(100);
const LIMIT: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, Serialize)]
pub struct NoisyNeighbour {
    pub a_deliveries: usize,
    pub a_endpoints: usize,
    pub a_answer_ms: u64,
    /// A's drain, from its first publish to its last success, alone.
    pub a_drain_alone_seconds: f64,
    /// The same with B publishing meanwhile.
    pub a_drain_seconds: f64,
    /// A's throughput with B against alone.
    pub a_throughput_ratio: f64,
    pub b_rate_per_second: f64,
    pub b_events: usize,
    /// B's publish-return to arrival with the engine otherwise idle.
    pub b_idle_p50_ms: f64,
    pub b_idle_p99_ms: f64,
    /// The same while A's backlog drains.
    pub b_p50_ms: f64,
    pub b_p99_ms: f64,
    /// B's p99 over A's drain time: how much of A's backlog B waits behind
    /// (1 would be all of it). Target: at most 0.01.
    pub b_p99_over_a_drain: f64,
    /// The run with B, per delivery of either.
    pub cost: Cost,
}

pub async fn noisy_neighbour(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    a_events: usize,
    a_endpoints: usize,
) -> NoisyNeighbour {
    let a_deliveries = a_events * a_endpoints;
    let alone = {
        let service = Service::start(&databases.fresh(), &receiver.ca_file, &[]).await;
        a_webhooks(&service, receiver, a_endpoints).await;
        let started = Instant::now();
        publish(&service, a_events).await;
        wait_for(&service, service.organization, a_deliveries).await;
        started.elapsed().as_secs_f64()
    };

    let service = Arc::new(Service::start(&databases.fresh(), &receiver.ca_file, &[]).await);
    a_webhooks(&service, receiver, a_endpoints).await;
    let b = uuid::Uuid::new_v4();
    let b_path = format!("/{}/b", uuid::Uuid::new_v4().simple());
    service.subscribe_in(b, 1, |_| receiver.url(&b_path)).await;
    let idle_events = (B_RATE * 2.0) as usize;
    let idle = b_publishes(&service, b, 0, Some(idle_events), None).await;

    let draining = Arc::new(AtomicBool::new(true));
    let b_task = {
        let (service, draining) = (service.clone(), draining.clone());
        tokio::spawn(
            async move { b_publishes(&service, b, idle_events, None, Some(draining)).await },
        )
    };
    let meter = Meter::start(&service, receiver).await;
    let started = Instant::now();
    publish(&service, a_events).await;
    wait_for(&service, service.organization, a_deliveries).await;
    let a_drain = started.elapsed().as_secs_f64();
    draining.store(false, Ordering::Relaxed);
    let loaded = b_task.await.unwrap();
    wait_for(&service, b, idle.len() + loaded.len()).await;
    let cost = meter
        .finish(&service, receiver, a_deliveries + loaded.len())
        .await;

    let b_events = idle.len() + loaded.len();
    let arrived: HashMap<String, Instant> = receiver
        .wait_for(&b_path, b_events, LIMIT)
        .await
        .into_iter()
        .map(|r| (r.header("x-webhook-id").to_owned(), r.at))
        .collect();
    let millis = |returned: &[(String, Instant)]| {
        let mut ms: Vec<f64> = returned
            .iter()
            .map(|(id, at)| arrived[id].saturating_duration_since(*at).as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let (idle_ms, loaded_ms) = (millis(&idle), millis(&loaded));
    let b_p99_ms = percentile(&loaded_ms, 0.99);
    NoisyNeighbour {
        a_deliveries,
        a_endpoints,
        a_answer_ms: A_ANSWER.as_millis() as u64,
        a_drain_alone_seconds: alone,
        a_drain_seconds: a_drain,
        a_throughput_ratio: alone / a_drain,
        b_rate_per_second: B_RATE,
        b_events,
        b_idle_p50_ms: percentile(&idle_ms, 0.5),
        b_idle_p99_ms: percentile(&idle_ms, 0.99),
        b_p50_ms: percentile(&loaded_ms, 0.5),
        b_p99_ms,
        b_p99_over_a_drain: b_p99_ms / 1000.0 / a_drain,
        cost,
    }
}

/// A's endpoints, each answering after [`A_ANSWER`].
async fn a_webhooks(service: &Service, receiver: &Receiver, count: usize) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let path = |i: usize| format!("/{run}/a/{i}");
    for i in 0..count {
        receiver.always_reply(&path(i), Reply::status(200).after(A_ANSWER));
    }
    service.subscribe(count, |i| receiver.url(&path(i))).await;
}

/// Publishes for `organization` at [`B_RATE`], `count` events or while
/// `running` holds; each event's id and when PublishEvent returned.
async fn b_publishes(
    service: &Service,
    organization: uuid::Uuid,
    first: usize,
    count: Option<usize>,
    running: Option<Arc<AtomicBool>>,
) -> Vec<(String, Instant)> {
    let mut client = service.event_clients(1).await.remove(0);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / B_RATE));
    let mut returned = Vec::new();
    for n in first.. {
        if count.is_some_and(|c| returned.len() >= c)
            || running.as_ref().is_some_and(|r| !r.load(Ordering::Relaxed))
        {
            break;
        }
        tick.tick().await;
        let response = client
            .publish_event(service.publish_request_in(organization, n))
            .await
            .expect("publish");
        returned.push((response.into_inner().event_id, Instant::now()));
    }
    returned
}

async fn wait_for(service: &Service, organization: uuid::Uuid, deliveries: usize) {
    let deadline = Instant::now() + LIMIT;
    while service.succeeded_in(organization).await < deliveries as u64 {
        assert!(Instant::now() < deadline, "A's backlog did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
