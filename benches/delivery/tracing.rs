//! What traces cost (issue 25, item 7): CPU per delivery with traces off,
//! sampled at 1% and at 100%. Three services at once, one per setting,
//! each on its own database with one endpoint, exporting over OTLP/gRPC to
//! a collector in the bench's own process that counts spans and keeps
//! nothing. Rounds publish to one service at a time, in an order that
//! rotates (after one round each to warm up), and medians are compared.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde::Serialize;
use tokio_stream::wrappers::TcpListenerStream;
use uuid::Uuid;
use webhook_service::grpc::proto::CreateWebhookRequest;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;

use crate::database::DatabaseRounds;
use crate::receiver::Receiver;
use crate::rounds::{self, median};
use crate::scenarios::{Databases, GRPC_CHANNELS};
use crate::service::{Service, authorized, owner_token};

/// Rounds of each setting, after one of each to warm up.
const ROUNDS: usize = 11;
const LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct Tracing {
    pub events_per_round: usize,
    pub rounds_each: usize,
    pub off: Setting,
    pub sampled_1_percent: Setting,
    pub sampled_100_percent: Setting,
    /// Median CPU per delivery over the same with traces off.
    pub cpu_ratio_1_percent: f64,
    pub cpu_ratio_100_percent: f64,
}

/// One setting's rounds, in the order run, their medians, and the spans
/// the collector got from its service.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub sampler: &'static str,
    pub deliveries_per_second: Vec<f64>,
    pub service_cpu_us_per_delivery: Vec<f64>,
    pub median_per_second: f64,
    pub median_cpu_us_per_delivery: f64,
    /// On PostgreSQL, the database's CPU and WAL per delivery, each round
    /// and their medians. The three services share the cluster: the two
    /// idle ones' work falls on the one measured.
    #[serde(flatten)]
    pub database: DatabaseRounds,
    /// Spans exported per event published (its RPC, its commit and its
    /// attempt: 3 when every one is sampled and none dropped).
    pub spans_per_event: f64,
}

/// The three settings: the service's environment, and its name.
const SETTINGS: [(&str, Option<&str>); 3] = [
    ("off", None),
    ("parentbased_traceidratio 0.01", Some("0.01")),
    ("parentbased_always_on", Some("1")),
];

pub async fn tracing(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events_per_round: usize,
) -> Tracing {
    let run = Uuid::new_v4().simple();
    let mut services = Vec::new();
    for (i, (sampler, ratio)) in SETTINGS.iter().enumerate() {
        let collector = Collector::start().await;
        let endpoint = collector.endpoint();
        let env: Vec<(&str, &str)> = match ratio {
            None => Vec::new(),
            Some(ratio) => vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", ratio),
            ],
        };
        let service = Service::start(&databases.fresh(), &receiver.ca_file, &env).await;
        let organization = Uuid::new_v4();
        create_webhook(
            &service,
            organization,
            &receiver.url(&format!("/{run}/tracing-{i}")),
        )
        .await;
        let clients = service.event_clients(GRPC_CHANNELS).await;
        services.push((
            service,
            organization,
            clients,
            collector,
            Setting::new(sampler),
        ));
    }

    // Round 0..3 warm each up; then each pass runs the three in an order
    // that rotates, so none always follows the same one.
    let mut published = [0usize; 3];
    for pass in 0..=ROUNDS {
        for k in 0..3 {
            let s = (k + pass) % 3;
            let (service, organization, clients, _, setting) = &mut services[s];
            let first = published[s];
            let spent = rounds::publish_and_wait(
                service,
                clients,
                (first, events_per_round),
                |n| service.publish_request_in(*organization, n),
                (first + events_per_round) as u64,
                LIMIT,
            )
            .await;
            published[s] += events_per_round;
            if pass > 0 {
                let count = events_per_round as f64;
                setting.deliveries_per_second.push(count / spent.seconds);
                setting
                    .service_cpu_us_per_delivery
                    .push(spent.cpu_seconds * 1e6 / count);
                setting
                    .database
                    .push(spent.database.map(|d| d.per_delivery(events_per_round)));
            }
        }
    }
    let mut settings = Vec::new();
    for (s, (service, _, _, collector, setting)) in services.into_iter().enumerate() {
        // The last batch leaves within OTEL_BSP_SCHEDULE_DELAY (5 s).
        let spans = collector.spans_after_quiet().await;
        drop(service);
        settings.push(setting.finish(spans as f64 / published[s] as f64));
    }
    let [off, one, all]: [Setting; 3] = settings.try_into().unwrap();
    Tracing {
        events_per_round,
        rounds_each: ROUNDS,
        cpu_ratio_1_percent: one.median_cpu_us_per_delivery / off.median_cpu_us_per_delivery,
        cpu_ratio_100_percent: all.median_cpu_us_per_delivery / off.median_cpu_us_per_delivery,
        off,
        sampled_1_percent: one,
        sampled_100_percent: all,
    }
}

impl Setting {
    fn new(sampler: &'static str) -> Self {
        Self {
            sampler,
            deliveries_per_second: Vec::new(),
            service_cpu_us_per_delivery: Vec::new(),
            median_per_second: f64::NAN,
            median_cpu_us_per_delivery: f64::NAN,
            database: DatabaseRounds::default(),
            spans_per_event: f64::NAN,
        }
    }

    fn finish(mut self, spans_per_event: f64) -> Self {
        self.median_per_second = median(&self.deliveries_per_second);
        self.median_cpu_us_per_delivery = median(&self.service_cpu_us_per_delivery);
        self.database.finish();
        self.spans_per_event = spans_per_event;
        self
    }
}

async fn create_webhook(service: &Service, organization: Uuid, url: &str) {
    let request = CreateWebhookRequest {
        organization_id: organization.to_string(),
        url: url.to_owned(),
        events: vec!["member.added".into()],
        ..Default::default()
    };
    WebhookServiceClient::new(service.channel().await)
        .create_webhook(authorized(request, &owner_token(organization)))
        .await
        .expect("create webhook");
}

/// An OTLP collector that counts the spans it is sent and keeps none.
struct Collector {
    port: u16,
    spans: Arc<AtomicU64>,
}

struct Counting(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Counting {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(AtomicU64::new(0));
        let server = TraceServiceServer::new(Counting(spans.clone()))
            .max_decoding_message_size(64 * 1024 * 1024);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(server)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Self { port, spans }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The spans counted once none has come for 6 s (longer than the
    /// exporter's 5 s between batches), at most 60 s from now.
    async fn spans_after_quiet(&self) -> u64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut last = self.spans.load(Ordering::Relaxed);
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(6)).await;
            let now = self.spans.load(Ordering::Relaxed);
            if now == last {
                break;
            }
            last = now;
        }
        last
    }
}
