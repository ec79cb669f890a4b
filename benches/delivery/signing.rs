//! ed25519 against HMAC signing (issue 24, item 9): what a `v1a` signature
//! costs per delivery. One service, two organizations with one endpoint
//! each, an HMAC webhook in one and an ed25519 webhook in the other, the
//! same events published to either. Rounds alternate (ABBA, after one of
//! each to warm up) and medians are compared: deliveries per second and
//! the service's CPU per delivery. The signing alone is also timed in the
//! bench's own process, free of the service's and the machine's noise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;
use webhook_service::delivery::signature::Signer;
use webhook_service::domain::{SignatureScheme, SigningSecret};
use webhook_service::grpc::proto::CreateWebhookRequest;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;

use crate::database::DatabaseRounds;
use crate::receiver::Receiver;
use crate::rounds::{self, median};
use crate::scenarios::{Databases, GRPC_CHANNELS};
use crate::service::{Service, authorized, owner_token};

/// Rounds of each scheme, after one of each to warm up.
const ROUNDS: usize = 5;
const LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct Signing {
    pub events_per_round: usize,
    pub rounds_each: usize,
    pub hmac: Rounds,
    pub ed25519: Rounds,
    /// Median deliveries/s ed25519 over HMAC.
    pub ratio: f64,
    /// Median CPU per delivery ed25519 minus HMAC: what a `v1a` signature
    /// costs the service over the two HMACs, as far as the noise lets it
    /// show.
    pub cpu_us_more_per_delivery: f64,
    /// The signing of one attempt in the bench's own process (µs, median of
    /// 5 passes of 20,000 over a delivery's body): both HMAC headers, and
    /// the ed25519 key parsed and one `v1a` signature.
    pub in_process_hmac_us: f64,
    pub in_process_ed25519_us: f64,
}

/// One scheme's rounds, in the order run, and their medians.
#[derive(Debug, Clone, Serialize)]
pub struct Rounds {
    pub scheme: &'static str,
    pub deliveries_per_second: Vec<f64>,
    pub service_cpu_us_per_delivery: Vec<f64>,
    pub median_per_second: f64,
    pub median_cpu_us_per_delivery: f64,
    /// On PostgreSQL, the database's CPU and WAL per delivery, each round
    /// and their medians.
    #[serde(flatten)]
    pub database: DatabaseRounds,
}

impl Rounds {
    fn new(scheme: &'static str) -> Self {
        Self {
            scheme,
            deliveries_per_second: Vec::new(),
            service_cpu_us_per_delivery: Vec::new(),
            median_per_second: f64::NAN,
            median_cpu_us_per_delivery: f64::NAN,
            database: DatabaseRounds::default(),
        }
    }

    fn finish(mut self) -> Self {
        self.median_per_second = median(&self.deliveries_per_second);
        self.median_cpu_us_per_delivery = median(&self.service_cpu_us_per_delivery);
        self.database.finish();
        self
    }
}

pub async fn signing(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events_per_round: usize,
) -> Signing {
    let service = Service::start(&databases.fresh(), &receiver.ca_file, &[]).await;
    let run = Uuid::new_v4().simple();
    let (hmac_org, ed25519_org) = (Uuid::new_v4(), Uuid::new_v4());
    create_webhook(
        &service,
        hmac_org,
        &receiver.url(&format!("/{run}/hmac")),
        SignatureScheme::HmacSha256,
    )
    .await;
    create_webhook(
        &service,
        ed25519_org,
        &receiver.url(&format!("/{run}/ed25519")),
        SignatureScheme::Ed25519,
    )
    .await;

    let clients = service.event_clients(GRPC_CHANNELS).await;
    let (mut hmac, mut ed25519) = (Rounds::new("hmac-sha256"), Rounds::new("ed25519"));
    for i in 0..2 * ROUNDS + 2 {
        let (is_hmac, warm_up) = rounds::kind(i);
        let (side, organization) = if is_hmac {
            (&mut hmac, hmac_org)
        } else {
            (&mut ed25519, ed25519_org)
        };
        let first = i * events_per_round;
        let spent = rounds::publish_and_wait(
            &service,
            &clients,
            (first, events_per_round),
            |n| service.publish_request_in(organization, n),
            // One endpoint per organization: one delivery per event.
            (first + events_per_round) as u64,
            LIMIT,
        )
        .await;
        if !warm_up {
            let count = events_per_round as f64;
            side.deliveries_per_second.push(count / spent.seconds);
            side.service_cpu_us_per_delivery
                .push(spent.cpu_seconds * 1e6 / count);
            side.database
                .push(spent.database.map(|d| d.per_delivery(events_per_round)));
        }
    }
    let (hmac, ed25519) = (hmac.finish(), ed25519.finish());
    Signing {
        events_per_round,
        rounds_each: ROUNDS,
        ratio: ed25519.median_per_second / hmac.median_per_second,
        cpu_us_more_per_delivery: ed25519.median_cpu_us_per_delivery
            - hmac.median_cpu_us_per_delivery,
        in_process_hmac_us: sign_in_process(SignatureScheme::HmacSha256),
        in_process_ed25519_us: sign_in_process(SignatureScheme::Ed25519),
        hmac,
        ed25519,
    }
}

async fn create_webhook(service: &Service, organization: Uuid, url: &str, scheme: SignatureScheme) {
    let scheme = match scheme {
        SignatureScheme::HmacSha256 => webhook_service::grpc::proto::SignatureScheme::HmacSha256,
        SignatureScheme::Ed25519 => webhook_service::grpc::proto::SignatureScheme::Ed25519,
    };
    let request = CreateWebhookRequest {
        organization_id: organization.to_string(),
        url: url.to_owned(),
        events: vec!["member.added".into()],
        signature_scheme: scheme.into(),
        ..Default::default()
    };
    WebhookServiceClient::new(service.channel().await)
        .create_webhook(authorized(request, &owner_token(organization)))
        .await
        .expect("create webhook");
}

/// µs to sign one attempt as the service does (a [`Signer`] made per claim,
/// then its headers), median of 5 passes of 20,000.
fn sign_in_process(scheme: SignatureScheme) -> f64 {
    const CALLS: usize = 20_000;
    let secret = SigningSecret::generate_for(scheme);
    let body = br#"{"id":"01a21d3e-6c1e-7b02-9d0f-5b8e3f0c2a11","type":"member.added","organization_id":"0b7e2d5c-8a4f-4c2e-9f61-3d2a1b0c9e8d","timestamp":"2026-11-27T13:40:02.118Z","data":{"email":"user1@example.com","role":"MEMBER","user_id":"u_00000001"}}"#;
    let passes: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for n in 0..CALLS {
                let signer = Signer::new(scheme, &secret, &[]);
                std::hint::black_box(signer.hex_signature(body));
                std::hint::black_box(signer.standard_signatures("id", n as i64, body));
            }
            started.elapsed().as_secs_f64() * 1e6 / CALLS as f64
        })
        .collect();
    median(&passes)
}
