//! Alternating rounds on one service, for the scenarios that compare two
//! kinds of event (schema validation, filters): A and B once each to warm
//! up, then A B B A A B B A ..., so a drift of the machine falls on both
//! alike, and medians of each kind.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use uuid::Uuid;
use webhook_service::grpc::proto::PublishEventRequest;
use webhook_service::grpc::proto::event_service_client::EventServiceClient;

use crate::database;
use crate::scenarios::{PUBLISHERS, percentile};
use crate::service::{Service, authorized};

/// Round `i` of `2 + 2 * rounds each`: whether it publishes kind A, and
/// whether it is one of the two warm-up rounds (A, then B).
pub fn kind(i: usize) -> (bool, bool) {
    if i < 2 {
        (i == 0, true)
    } else {
        (((i - 1) / 2).is_multiple_of(2), false)
    }
}

/// What one round took.
pub struct Spent {
    pub seconds: f64,
    /// The service's CPU time (user and system, all threads) meanwhile.
    pub cpu_seconds: f64,
    /// On PostgreSQL, what the database spent meanwhile.
    pub database: Option<database::Spent>,
}

/// Publishes events `first..first + count` (`request(n)` each, made before
/// the clock starts: the bench's own work is not the service's) from
/// [`PUBLISHERS`] callers, and waits until the store counts `succeeded`
/// deliveries in all.
pub async fn publish_and_wait(
    service: &Service,
    clients: &[EventServiceClient<Channel>],
    range: (usize, usize),
    request: impl Fn(usize) -> tonic::Request<PublishEventRequest>,
    succeeded: u64,
    limit: Duration,
) -> Spent {
    publish_and_wait_in(service, clients, range, request, None, succeeded, limit).await
}

/// [`publish_and_wait`], counting only `organization`'s deliveries when
/// given: through its index, so that other organizations' rows (a backlog)
/// do not slow the bench's own polling.
pub async fn publish_and_wait_in(
    service: &Service,
    clients: &[EventServiceClient<Channel>],
    (first, count): (usize, usize),
    request: impl Fn(usize) -> tonic::Request<PublishEventRequest>,
    organization: Option<Uuid>,
    succeeded: u64,
    limit: Duration,
) -> Spent {
    let batches: Vec<Vec<_>> = (0..PUBLISHERS)
        .map(|p| {
            (first + p..first + count)
                .step_by(PUBLISHERS)
                .map(&request)
                .collect()
        })
        .collect();
    let cpu = service.cpu_seconds();
    let database = service.database_reading().await;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (p, requests) in batches.into_iter().enumerate() {
        let mut client = clients[p % clients.len()].clone();
        tasks.spawn(async move {
            for request in requests {
                client.publish_event(request).await.expect("publish");
            }
        });
    }
    tasks.join_all().await;
    match organization {
        Some(organization) => {
            service
                .wait_succeeded_in(organization, succeeded, limit)
                .await
        }
        None => service.wait_succeeded(succeeded, limit).await,
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = service.cpu_seconds() - cpu;
    let database = match database {
        Some(reading) => Some(service.database_spent(reading).await),
        None => None,
    };
    Spent {
        seconds,
        cpu_seconds,
        database,
    }
}

/// PublishEvent of `event_type` with `labels` and `data` (a JSON object) in
/// `organization`, as `token`'s caller.
pub fn publish_request(
    organization: Uuid,
    event_type: &str,
    labels: BTreeMap<String, String>,
    data: Value,
    token: &str,
) -> tonic::Request<PublishEventRequest> {
    let request = PublishEventRequest {
        organization_id: organization.to_string(),
        r#type: event_type.into(),
        labels: labels.into_iter().collect(),
        data: Some(serde_json::from_value(data).expect("data as a Struct")),
        ..Default::default()
    };
    authorized(request, token)
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 0.5)
}
