//! The hostile tenant (issue 19): with a million deliveries of other
//! organizations stored, organization A's admin loops ListDeliveries from
//! 12 clients while organization B publishes 20 events a second. How long
//! B's PublishEvent takes under that flood against idle, whether health
//! stays SERVING, and what one ListDeliveries of an organization with no
//! deliveries costs in a full store against an empty one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{DeliveryStatus, ListDeliveriesRequest};

use crate::history::{self, History};
use crate::receiver::Receiver;
use crate::scenarios::{Databases, percentile};
use crate::service::{Service, authorized, owner_token};

/// B's steady rate, events per second.
const B_RATE: f64 = 20.0;
/// A's clients looping ListDeliveries, as in the review of issue 19.
const A_CLIENTS: usize = 12;
/// A's own deliveries: fewer than a page (50), so a page never fills and
/// the whole of A's history is looked for on every call.
const A_DELIVERIES: usize = 5;
/// How often health is asked, and how long an answer may take before the
/// check counts as failed.
const HEALTH_EVERY: Duration = Duration::from_millis(100);
const HEALTH_LIMIT: Duration = Duration::from_secs(1);
/// Any one call: a call still unanswered then counts as failed
/// (DEADLINE_EXCEEDED), with this as its time, so a stuck service ends the
/// run instead of hanging it.
const CALL_LIMIT: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct HostileTenant {
    /// The other organizations' history stored before the measurements.
    pub history: History,
    /// ListDeliveries of an organization with no deliveries, one caller,
    /// on the freshly made store and then with the history stored.
    pub list_empty_store: Calls,
    pub list_full_store: Calls,
    /// Calls per second with the history stored over calls per second on
    /// the empty store. Target: about 1.
    pub list_ratio: f64,
    pub b_rate_per_second: f64,
    /// How long B publishes idle, and again under A's flood.
    pub phase_seconds: f64,
    /// B's PublishEvent, from the call to its answer, with the service
    /// otherwise idle (the history stored).
    pub b_idle: Calls,
    /// The same while A floods.
    pub b_flood: Calls,
    /// B's p99 under the flood over idle. Target: at most 2.
    pub b_p99_ratio: f64,
    pub a_deliveries: usize,
    pub a_clients: usize,
    /// A's ListDeliveries (default page of 50) during the flood, all
    /// clients together.
    pub a_flood: Calls,
    /// `grpc.health.v1.Health/Check` polled every 100 ms on a connection of
    /// its own, from the start of the idle phase to the end of the flood.
    pub health: Health,
}

/// Calls of one kind: how many, how many failed (any status but OK, or no
/// answer within 30 s) and with which codes, their rate, and how long each
/// took, failed ones included.
#[derive(Debug, Clone, Serialize)]
pub struct Calls {
    pub calls: usize,
    pub failed: usize,
    pub failed_by_code: BTreeMap<String, usize>,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub checks: u64,
    /// Answered, but not SERVING.
    pub not_serving: u64,
    /// No answer within a second, or an error.
    pub failed: u64,
}

pub async fn hostile_tenant(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    deliveries: usize,
    phase: Duration,
) -> HostileTenant {
    let database = databases.fresh();
    let empty = Uuid::new_v4();
    let cost_time = phase / 4;

    // The empty store, and the other organizations' webhooks made through
    // the service; then their history, with the service stopped.
    let list_empty_store = {
        let service = Service::start(&database, &receiver.ca_file, &[]).await;
        let calls = list_one_by_one(&service, empty, cost_time).await;
        history::create_webhooks(&service, receiver).await;
        calls
    };
    eprintln!("   storing {deliveries} deliveries of other organizations");
    let history = history::insert(&database, deliveries).await;
    eprintln!("   stored in {:.1} s; measuring", history.insert_seconds);

    let service = Arc::new(Service::start(&database, &receiver.ca_file, &[]).await);
    reads_back(&service, history.sample).await;
    let list_full_store = list_one_by_one(&service, empty, cost_time).await;

    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let run = Uuid::new_v4().simple().to_string();
    service
        .subscribe_in(a, 1, |_| receiver.url(&format!("/{run}/a")))
        .await;
    service
        .subscribe_in(b, 1, |_| receiver.url(&format!("/{run}/b")))
        .await;
    let mut events = service.event_clients(1).await.remove(0);
    for n in 0..A_DELIVERIES {
        events
            .publish_event(service.publish_request_in(a, n))
            .await
            .expect("publish A's event");
    }
    wait_for(&service, a, A_DELIVERIES).await;

    let polling = Arc::new(AtomicBool::new(true));
    let health = tokio::spawn(poll_health(service.channel().await, polling.clone()));
    let b_idle = b_publishes(&service, b, 0, phase).await;

    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let mut clients = Vec::new();
        for _ in 0..A_CLIENTS {
            clients.push(WebhookServiceClient::new(service.channel().await));
        }
        tokio::spawn(a_floods(clients, a, flooding.clone()))
    };
    let b_flood = b_publishes(&service, b, b_idle.calls, phase).await;
    flooding.store(false, Ordering::Relaxed);
    let a_flood = flood.await.unwrap();
    polling.store(false, Ordering::Relaxed);
    let health = health.await.unwrap();
    wait_for(
        &service,
        b,
        b_idle.calls + b_flood.calls - b_idle.failed - b_flood.failed,
    )
    .await;

    HostileTenant {
        history,
        list_ratio: list_full_store.per_second / list_empty_store.per_second,
        list_empty_store,
        list_full_store,
        b_rate_per_second: B_RATE,
        phase_seconds: phase.as_secs_f64(),
        b_p99_ratio: b_flood.p99_ms / b_idle.p99_ms,
        b_idle,
        b_flood,
        a_deliveries: A_DELIVERIES,
        a_clients: A_CLIENTS,
        a_flood,
        health,
    }
}

/// The service lists the stored history as its own: a full page of an
/// organization's deliveries, finished ones, with more to follow.
async fn reads_back(service: &Service, organization: Uuid) {
    let mut client = WebhookServiceClient::new(service.channel().await);
    let request = authorized(
        ListDeliveriesRequest {
            organization_id: organization.to_string(),
            ..Default::default()
        },
        &owner_token(organization),
    );
    let page = client
        .list_deliveries(request)
        .await
        .expect("the service lists the stored history")
        .into_inner();
    assert_eq!(page.deliveries.len(), 50, "a full page of stored history");
    assert!(!page.next_page_token.is_empty(), "more stored history");
    assert!(
        page.deliveries.iter().all(|d| matches!(
            d.status(),
            DeliveryStatus::Succeeded | DeliveryStatus::Failed
        )),
        "the stored history is finished"
    );
}

/// ListDeliveries of `organization` from one caller, one call after the
/// other, for `duration` and at least 5 calls, after 3 calls to warm up.
async fn list_one_by_one(service: &Service, organization: Uuid, duration: Duration) -> Calls {
    let mut client = WebhookServiceClient::new(service.channel().await);
    for _ in 0..3 {
        list(&mut client, organization).await;
    }
    let started = Instant::now();
    let mut results = Vec::new();
    while started.elapsed() < duration || results.len() < 5 {
        results.push(list(&mut client, organization).await);
    }
    calls(results, started.elapsed())
}

/// A's clients, each calling ListDeliveries again as soon as it answers,
/// until `flooding` ends.
async fn a_floods(
    clients: Vec<WebhookServiceClient<Channel>>,
    organization: Uuid,
    flooding: Arc<AtomicBool>,
) -> Calls {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for mut client in clients {
        let flooding = flooding.clone();
        tasks.spawn(async move {
            let mut results = Vec::new();
            while flooding.load(Ordering::Relaxed) {
                results.push(list(&mut client, organization).await);
            }
            results
        });
    }
    let results = tasks.join_all().await.into_iter().flatten().collect();
    calls(results, started.elapsed())
}

/// How long a call took, and the code it ended with.
type Outcome = (Duration, Code);

async fn timed<T>(call: impl Future<Output = Result<T, tonic::Status>>) -> Outcome {
    let at = Instant::now();
    let code = match tokio::time::timeout(CALL_LIMIT, call).await {
        Ok(Ok(_)) => Code::Ok,
        Ok(Err(status)) => status.code(),
        Err(_) => Code::DeadlineExceeded,
    };
    (at.elapsed(), code)
}

/// One ListDeliveries of `organization`, with its default page (50).
async fn list(client: &mut WebhookServiceClient<Channel>, organization: Uuid) -> Outcome {
    let mut request = authorized(
        ListDeliveriesRequest {
            organization_id: organization.to_string(),
            ..Default::default()
        },
        &owner_token(organization),
    );
    // Told to the server too, which then stops working on it.
    request.set_timeout(CALL_LIMIT);
    timed(client.list_deliveries(request)).await
}

/// B's PublishEvent at [`B_RATE`] for `duration`, each call started on its
/// tick whether the earlier ones have answered or not: a slow answer does
/// not thin out the calls that would see it (no coordinated omission).
async fn b_publishes(
    service: &Service,
    organization: Uuid,
    first: usize,
    duration: Duration,
) -> Calls {
    let client = service.event_clients(1).await.remove(0);
    let count = (B_RATE * duration.as_secs_f64()).round() as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / B_RATE));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for n in first..first + count {
        tick.tick().await;
        let mut client = client.clone();
        let mut request = service.publish_request_in(organization, n);
        request.set_timeout(CALL_LIMIT);
        tasks.spawn(async move { timed(client.publish_event(request)).await });
    }
    let results = tasks.join_all().await;
    calls(results, started.elapsed())
}

fn calls(results: Vec<Outcome>, elapsed: Duration) -> Calls {
    let mut failed_by_code = BTreeMap::new();
    for (_, code) in &results {
        if *code != Code::Ok {
            *failed_by_code.entry(format!("{code:?}")).or_default() += 1;
        }
    }
    let mut millis: Vec<f64> = results
        .iter()
        .map(|(took, _)| took.as_secs_f64() * 1000.0)
        .collect();
    millis.sort_by(f64::total_cmp);
    Calls {
        calls: results.len(),
        failed: failed_by_code.values().sum(),
        failed_by_code,
        per_second: results.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&millis, 0.5),
        p99_ms: percentile(&millis, 0.99),
        max_ms: millis.last().copied().unwrap_or(f64::NAN),
    }
}

/// Asks health every [`HEALTH_EVERY`] while `polling` holds.
async fn poll_health(channel: Channel, polling: Arc<AtomicBool>) -> Health {
    let mut client = HealthClient::new(channel);
    let mut health = Health {
        checks: 0,
        not_serving: 0,
        failed: 0,
    };
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    while polling.load(Ordering::Relaxed) {
        tick.tick().await;
        health.checks += 1;
        let request = HealthCheckRequest {
            service: String::new(),
        };
        match tokio::time::timeout(HEALTH_LIMIT, client.check(request)).await {
            Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32 => {}
            Ok(Ok(_)) => health.not_serving += 1,
            _ => health.failed += 1,
        }
    }
    health
}

async fn wait_for(service: &Service, organization: Uuid, deliveries: usize) {
    let deadline = Instant::now() + LIMIT;
    while service.succeeded_in(organization).await < deliveries as u64 {
        assert!(Instant::now() < deadline, "deliveries did not all succeed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
