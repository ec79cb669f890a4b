//! The scenarios, each against a fresh database and a fresh service, each
//! with its baseline measured in the same run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::cost::{Cost, Meter};
use crate::receiver::Receiver;
use crate::service::{Service, authorized, owner_token};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;
use webhook_service::grpc::proto::CreateWebhookRequest;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;

/// Publishers calling PublishEvent at once, as in the peer's measurement.
pub const PUBLISHERS: usize = 32;
pub const GRPC_CHANNELS: usize = 4;
/// The service's defaults: WEBHOOK_MAX_IN_FLIGHT and WEBHOOK_MAX_PER_ENDPOINT.
const MAX_IN_FLIGHT: usize = 256;
const MAX_PER_ENDPOINT: usize = 16;
const LIMIT: Duration = Duration::from_secs(900);

/// Where a scenario's database comes from.
pub trait Databases {
    fn fresh(&self) -> String;
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub events: usize,
    pub webhooks: usize,
    pub failing_webhooks: usize,
    /// Deliveries that must succeed (to healthy webhooks).
    pub deliveries: usize,
    pub seconds: f64,
    pub deliveries_per_second: f64,
    pub baseline_concurrency: usize,
    pub baseline_per_second: f64,
    pub ratio: f64,
    pub cost: Cost,
}

/// Scenarios 1 and 5: publish `events` to `webhooks` endpoints, `failing`
/// of which always answer 500; time until every healthy delivery succeeded.
pub async fn fan_out(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events: usize,
    webhooks: usize,
    failing: usize,
) -> Throughput {
    let run = format!("{}", uuid::Uuid::new_v4().simple());
    let path = |i: usize| {
        if i < failing {
            format!("/{run}/fail/{i}")
        } else {
            format!("/{run}/ok/{i}")
        }
    };
    for i in 0..failing {
        receiver.always(&path(i), 500);
    }
    let deliveries = events * (webhooks - failing);
    let concurrency = MAX_IN_FLIGHT.min(MAX_PER_ENDPOINT * (webhooks - failing));
    let baseline = baseline(receiver, deliveries, concurrency, &member_added_body()).await;

    let service = Service::start(&databases.fresh(), &receiver.ca_file, &[]).await;
    service
        .subscribe(webhooks, |i| receiver.url(&path(i)))
        .await;
    let meter = Meter::start(&service, receiver).await;
    let started = Instant::now();
    publish(&service, events).await;
    service.wait_succeeded(deliveries as u64, LIMIT).await;
    let seconds = started.elapsed().as_secs_f64();
    let cost = meter.finish(&service, receiver, deliveries).await;
    let per_second = deliveries as f64 / seconds;
    Throughput {
        events,
        webhooks,
        failing_webhooks: failing,
        deliveries,
        seconds,
        deliveries_per_second: per_second,
        baseline_concurrency: concurrency,
        baseline_per_second: baseline,
        ratio: per_second / baseline,
        cost,
    }
}

/// PublishEvent `events` times from [`PUBLISHERS`] concurrent callers.
pub async fn publish(service: &Service, events: usize) {
    let clients = service.event_clients(GRPC_CHANNELS).await;
    let mut tasks = JoinSet::new();
    for p in 0..PUBLISHERS {
        let mut client = clients[p % GRPC_CHANNELS].clone();
        let requests: Vec<_> = (p..events)
            .step_by(PUBLISHERS)
            .map(|n| service.publish_request(n))
            .collect();
        tasks.spawn(async move {
            for request in requests {
                client.publish_event(request).await.expect("publish");
            }
        });
    }
    tasks.join_all().await;
}

/// A body of the size the service sends for [`Service::publish_request`].
fn member_added_body() -> String {
    format!(
        r#"{{"id":"{}","type":"member.added","organization_id":"{}","timestamp":"2026-11-27T13:40:02.118Z","data":{{"email":"user1@example.com","role":"MEMBER","user_id":"u_00000001"}}}}"#,
        uuid::Uuid::now_v7(),
        uuid::Uuid::new_v4()
    )
}

/// Requests per second of a plain reqwest client posting `body` (of the
/// size the service sends) to the same receiver with `concurrency`
/// requests in flight.
pub async fn baseline(
    receiver: &Arc<Receiver>,
    requests: usize,
    concurrency: usize,
    body: &str,
) -> f64 {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&receiver.ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let url = receiver.url("/baseline");
    let body = body.to_owned();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, body, next) = (client.clone(), url.clone(), body.clone(), next.clone());
        tasks.spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("baseline post");
                let _ = response.bytes().await;
            }
        });
    }
    tasks.join_all().await;
    requests as f64 / started.elapsed().as_secs_f64()
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub events: usize,
    pub rate_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub cost: Cost,
}

/// Scenario 2: a low steady rate; time from PublishEvent's return to the
/// receiver's arrival.
pub async fn latency(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events: usize,
) -> Latency {
    const RATE: f64 = 50.0;
    let path = format!("/{}/latency", uuid::Uuid::new_v4().simple());
    let service = Service::start(&databases.fresh(), &receiver.ca_file, &[]).await;
    service.subscribe(1, |_| receiver.url(&path)).await;
    let mut client = service.event_clients(1).await.remove(0);
    let mut returned = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / RATE));
    let meter = Meter::start(&service, receiver).await;
    for n in 0..events {
        tick.tick().await;
        let response = client
            .publish_event(service.publish_request(n))
            .await
            .expect("publish");
        returned.insert(response.into_inner().event_id, Instant::now());
    }
    let arrived = receiver.wait_for(&path, events, LIMIT).await;
    service.wait_succeeded(events as u64, LIMIT).await;
    let cost = meter.finish(&service, receiver, events).await;
    let mut millis: Vec<f64> = arrived
        .iter()
        .map(|r| {
            let sent = returned[r.header("x-webhook-id")];
            r.at.saturating_duration_since(sent).as_secs_f64() * 1000.0
        })
        .collect();
    millis.sort_by(f64::total_cmp);
    Latency {
        events,
        rate_per_second: RATE,
        p50_ms: percentile(&millis, 0.50),
        p99_ms: percentile(&millis, 0.99),
        max_ms: *millis.last().unwrap(),
        cost,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Calls {
    pub calls: usize,
    pub concurrency: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub baseline_per_second: f64,
    pub baseline_p50_ms: f64,
    pub baseline_p99_ms: f64,
    pub ratio: f64,
}

/// Scenario 3: CreateWebhook from 64 concurrent callers, each an owner of
/// its own organization (one organization's calls wait beyond
/// `WEBHOOK_MAX_CALLS_PER_ORGANIZATION` at once), against Health/Check on
/// the same server and channel setup.
pub async fn create_webhook(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    calls: usize,
) -> Calls {
    const CONCURRENCY: usize = 64;
    // More than the default limit of webhooks in one organization.
    let limit = [("WEBHOOK_MAX_WEBHOOKS_PER_ORGANIZATION", "1000000")];
    let service = Service::start(&databases.fresh(), &receiver.ca_file, &limit).await;
    let channel = service.channel().await;
    let health = HealthClient::new(channel.clone());
    let (baseline_per_second, baseline) = timed_calls(calls, CONCURRENCY, move |_| {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("health");
        }
    })
    .await;
    let webhooks = WebhookServiceClient::new(channel);
    let callers: Arc<Vec<(String, String)>> = Arc::new(
        (0..CONCURRENCY)
            .map(|_| {
                let organization = Uuid::new_v4();
                (organization.to_string(), owner_token(organization))
            })
            .collect(),
    );
    let base = receiver.url("/created");
    let (per_second, created) = timed_calls(calls, CONCURRENCY, move |n| {
        let mut webhooks = webhooks.clone();
        let (organization, token) = &callers[n % CONCURRENCY];
        let request = CreateWebhookRequest {
            organization_id: organization.clone(),
            url: format!("{base}/{n}"),
            events: vec!["member.added".into()],
            ..Default::default()
        };
        let request = authorized(request, token);
        async move {
            webhooks.create_webhook(request).await.expect("create");
        }
    })
    .await;
    Calls {
        calls,
        concurrency: CONCURRENCY,
        per_second,
        p50_ms: percentile(&created, 0.5),
        p99_ms: percentile(&created, 0.99),
        baseline_per_second,
        baseline_p50_ms: percentile(&baseline, 0.5),
        baseline_p99_ms: percentile(&baseline, 0.99),
        ratio: per_second / baseline_per_second,
    }
}

/// Runs `call(n)` for n in 0..calls from `concurrency` tasks: calls per
/// second and each call's milliseconds, sorted.
async fn timed_calls<F, Fut>(calls: usize, concurrency: usize, call: F) -> (f64, Vec<f64>)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        tasks.spawn(async move {
            let mut millis = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= calls {
                    return millis;
                }
                let at = Instant::now();
                call(n).await;
                millis.push(at.elapsed().as_secs_f64() * 1000.0);
            }
        });
    }
    let mut millis: Vec<f64> = tasks.join_all().await.into_iter().flatten().collect();
    let per_second = calls as f64 / started.elapsed().as_secs_f64();
    millis.sort_by(f64::total_cmp);
    (per_second, millis)
}

#[derive(Debug, Clone, Serialize)]
pub struct Backlog {
    pub deliveries: usize,
    pub publish_seconds: f64,
    pub drain_seconds: f64,
    pub drain_per_second: f64,
    pub peak_rss_during_drain_mb: f64,
    pub peak_rss_whole_run_mb: f64,
    pub cost: Cost,
}

/// Scenario 4: `events` x `webhooks` deliveries pile up behind a paused
/// receiver, then drain; the service's memory meanwhile.
pub async fn backlog(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events: usize,
    webhooks: usize,
) -> Backlog {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let service = Service::start(&databases.fresh(), &receiver.ca_file, &[]).await;
    service
        .subscribe(webhooks, |i| receiver.url(&format!("/{run}/backlog/{i}")))
        .await;
    receiver.pause();
    let meter = Meter::start(&service, receiver).await;
    let published = Instant::now();
    publish(&service, events).await;
    let publish_seconds = published.elapsed().as_secs_f64();
    let deliveries = events * webhooks;

    let service = Arc::new(service);
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (service, sampling) = (service.clone(), sampling.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(service.memory().0);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let released = Instant::now();
    receiver.release();
    service.wait_succeeded(deliveries as u64, LIMIT).await;
    let drain_seconds = released.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak_drain = sampler.await.unwrap();
    let cost = meter.finish(&service, receiver, deliveries).await;
    let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    Backlog {
        deliveries,
        publish_seconds,
        drain_seconds,
        drain_per_second: deliveries as f64 / drain_seconds,
        peak_rss_during_drain_mb: mb(peak_drain),
        peak_rss_whole_run_mb: mb(service.memory().1),
        cost,
    }
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank]
}
