//! Filters at publish (issue 22, item 7): what evaluating a CEL filter per
//! (event, webhook) costs, and whether the fan-out keeps its pace.
//!
//! One service, one organization, 200 webhooks on the bench receiver
//! (distinct paths): 100 subscribed to a type with a filter each, 100 to a
//! second type without one. Every filter is `labels.region == "eu" &&
//! data.total > T` with its own threshold T (so the process caches 100
//! compiled filters, as it would for 100 customers), and all 100 agree on
//! every event: half the events match every filter, the other half none
//! (a quarter fail on the label, a quarter on `data`). So a matching event
//! fans out to exactly the 100 webhooks an unfiltered event fans out to:
//! the delivery work per delivered event is the same on both sides, and
//! what differs is what filtering adds (the event converted once, 100
//! evaluations, the events that nobody receives). Filters that each took
//! a different half would change the fan-out per event (50 instead of
//! 100) and measure batching as much as filtering.
//!
//! Both types get the same events (the same ~1 KiB `data` and labels) in
//! rounds of the same number of events, so the filtered rounds deliver
//! half as much, as issue 22 puts it. Rounds alternate ABBA after a
//! warm-up of each; medians of deliveries/s, the fan-out ratio against a
//! plain client's rate in the same run, and the service's CPU per
//! delivered webhook and per published event. `Filter::matches` and
//! `EventView::new` are also timed in the bench's own process on the same
//! events ([`crate::filter_timing`]). At the end the bench checks that
//! the service left out exactly what the filters should have:
//! `webhook_events_filtered_total{outcome="no_match"}` and the deliveries
//! stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use webhook_service::grpc::proto::CreateWebhookRequest;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;

use crate::database::DatabaseRounds;
use crate::filter_timing::{self, InProcess};
use crate::receiver::Receiver;
use crate::rounds::{self, median};
use crate::scenarios::{self, Databases, GRPC_CHANNELS};
use crate::service::{Service, authorized, free_address, owner_token};

pub(crate) const FILTERED: &str = "bench.order.routed";
const UNFILTERED: &str = "bench.order.every";
/// Webhooks of each type.
const WEBHOOKS: usize = 100;
/// Rounds of each type, after one of each to warm up.
const ROUNDS: usize = 5;
/// The service's concurrency for 100 endpoints (WEBHOOK_MAX_IN_FLIGHT), as
/// `fan_out` gives its baseline.
const CONCURRENCY: usize = 256;
const LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct Filters {
    pub events_per_round: usize,
    pub rounds_each: usize,
    pub webhooks_each: usize,
    /// `data` of every event, serialized (the same size for all).
    pub data_bytes: usize,
    /// The first webhook's filter; the others differ in the threshold.
    pub filter_example: String,
    /// A plain reqwest client posting bodies of the same size to the same
    /// receiver, 256 in flight (as `fan_out` measures it), before the
    /// rounds, halfway (after round 7 of 12) and after the last.
    pub baselines_per_second: Vec<f64>,
    /// Their median: what the fan-out ratios divide by.
    pub baseline_per_second: f64,
    pub filtered: Rounds,
    pub unfiltered: Rounds,
    /// Median fan-out ratio filtered over unfiltered. Target: no loss
    /// (about 1; the filtered rounds are half as long).
    pub fan_out_ratio_kept: f64,
    /// Median CPU per published event, filtered minus unfiltered: the
    /// filters' cost less the 50 deliveries per event they save
    /// (negative when filtering saves the service work).
    pub cpu_us_per_event_saved: f64,
    pub in_process: InProcess,
    pub check: Check,
}

/// One type's rounds, in the order run, and their medians.
#[derive(Debug, Clone, Serialize)]
pub struct Rounds {
    pub event_type: &'static str,
    pub deliveries_per_round: usize,
    pub deliveries_per_second: Vec<f64>,
    pub service_cpu_us_per_delivery: Vec<f64>,
    pub service_cpu_us_per_event: Vec<f64>,
    pub median_per_second: f64,
    /// Median deliveries/s over the baseline.
    pub fan_out_ratio: f64,
    pub median_cpu_us_per_delivery: f64,
    pub median_cpu_us_per_event: f64,
    /// On PostgreSQL, the database's CPU and WAL per delivery, each round
    /// and their medians.
    #[serde(flatten)]
    pub database: DatabaseRounds,
}

impl Rounds {
    fn new(event_type: &'static str, deliveries_per_round: usize) -> Self {
        Self {
            event_type,
            deliveries_per_round,
            deliveries_per_second: Vec::new(),
            service_cpu_us_per_delivery: Vec::new(),
            service_cpu_us_per_event: Vec::new(),
            median_per_second: f64::NAN,
            fan_out_ratio: f64::NAN,
            median_cpu_us_per_delivery: f64::NAN,
            median_cpu_us_per_event: f64::NAN,
            database: DatabaseRounds::default(),
        }
    }

    fn finish(mut self, baseline: f64) -> Self {
        self.median_per_second = median(&self.deliveries_per_second);
        self.fan_out_ratio = self.median_per_second / baseline;
        self.median_cpu_us_per_delivery = median(&self.service_cpu_us_per_delivery);
        self.median_cpu_us_per_event = median(&self.service_cpu_us_per_event);
        self.database.finish();
        self
    }
}

/// What the service left out, against what the filters should have.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Non-matching events of the filtered type times 100, warm-up included.
    pub expected_no_match: u64,
    /// `webhook_events_filtered_total{outcome="no_match"}` at the end.
    pub metric_no_match: u64,
    /// `webhook_events_filtered_total{outcome="error"}`: 0 expected.
    pub metric_error: u64,
    pub expected_deliveries: u64,
    /// Deliveries the store says succeeded at the end.
    pub succeeded_deliveries: u64,
}

pub async fn filters(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events_per_round: usize,
) -> Filters {
    // Events come in fours (two match, one fails on the label, one on
    // `data`), so every round is exactly half matching.
    assert!(
        events_per_round.is_multiple_of(4),
        "rounds of a multiple of 4 events"
    );
    let metrics_addr = free_address();
    let service = Service::start(
        &databases.fresh(),
        &receiver.ca_file,
        &[("WEBHOOK_METRICS_ADDR", &metrics_addr)],
    )
    .await;
    crate::schema::create_event_types(&service, &[(FILTERED, None), (UNFILTERED, None)]).await;
    let run = Uuid::new_v4().simple().to_string();
    let filter_texts: Vec<String> = (0..WEBHOOKS).map(filter).collect();
    create_webhooks(&service, receiver, &run, &filter_texts).await;

    let per_round = events_per_round * WEBHOOKS;
    // The plain client's rate before, amid and after the rounds: one
    // measurement alone can fall on a busy moment of the machine.
    let body = body(service.organization);
    let baseline = || scenarios::baseline(receiver, per_round, CONCURRENCY, &body);
    let mut baselines = vec![baseline().await];
    let clients = service.event_clients(GRPC_CHANNELS).await;
    let mut filtered = Rounds::new(FILTERED, per_round / 2);
    let mut unfiltered = Rounds::new(UNFILTERED, per_round);
    let (mut delivered, mut no_match) = (0, 0);
    let token = service.publisher_token();
    // One round of each to warm up (connections made, the filters compiled
    // and cached), then F U U F F U ...
    for i in 0..2 * ROUNDS + 2 {
        let (filters, warm_up) = rounds::kind(i);
        let side = if filters {
            no_match += (per_round / 2) as u64;
            &mut filtered
        } else {
            &mut unfiltered
        };
        let (event_type, deliveries) = (side.event_type, side.deliveries_per_round);
        delivered += deliveries as u64;
        let spent = rounds::publish_and_wait(
            &service,
            &clients,
            (i * events_per_round, events_per_round),
            |n| {
                rounds::publish_request(
                    service.organization,
                    event_type,
                    labels(n),
                    data(n),
                    &token,
                )
            },
            delivered,
            LIMIT,
        )
        .await;
        if !warm_up {
            let cpu_us = spent.cpu_seconds * 1e6;
            side.deliveries_per_second
                .push(deliveries as f64 / spent.seconds);
            side.service_cpu_us_per_delivery
                .push(cpu_us / deliveries as f64);
            side.service_cpu_us_per_event
                .push(cpu_us / events_per_round as f64);
            side.database
                .push(spent.database.map(|d| d.per_delivery(deliveries)));
        }
        if i == ROUNDS + 1 || i == 2 * ROUNDS + 1 {
            baselines.push(baseline().await);
        }
    }
    let check = check(&service, &metrics_addr, no_match, delivered).await;
    let baseline = median(&baselines);
    let (filtered, unfiltered) = (filtered.finish(baseline), unfiltered.finish(baseline));
    Filters {
        events_per_round,
        rounds_each: ROUNDS,
        webhooks_each: WEBHOOKS,
        data_bytes: serde_json::to_vec(&data(0)).unwrap().len(),
        filter_example: filter_texts[0].clone(),
        baselines_per_second: baselines,
        baseline_per_second: baseline,
        fan_out_ratio_kept: filtered.fan_out_ratio / unfiltered.fan_out_ratio,
        cpu_us_per_event_saved: filtered.median_cpu_us_per_event
            - unfiltered.median_cpu_us_per_event,
        in_process: filter_timing::time_in_process(&filter_texts),
        filtered,
        unfiltered,
        check,
    }
}

/// Webhook `i`'s filter: EU orders over its own threshold, from 10,000 to
/// 19,900 (minor units), each below every matching order's total.
fn filter(i: usize) -> String {
    format!(
        r#"labels.region == "eu" && data.total > {}"#,
        10_000 + 100 * i
    )
}

/// Event `n`'s labels: `region` is "us" for every fourth (n % 4 == 1).
pub(crate) fn labels(n: usize) -> BTreeMap<String, String> {
    let region = if n % 4 == 1 { "us" } else { "eu" };
    BTreeMap::from([
        ("region".to_owned(), region.to_owned()),
        ("channel".to_owned(), ["web", "app"][n % 2].to_owned()),
        ("tenant".to_owned(), format!("t_{:04}", n % 1_000)),
    ])
}

/// Event `n`'s data: the schema scenario's ~1 KiB order, with a total that
/// is under every threshold for every fourth (n % 4 == 3), so that n % 4
/// in {0, 2} match every filter and {1, 3} none.
pub(crate) fn data(n: usize) -> Value {
    let mut order = crate::schema::order(n);
    if n % 4 == 3 {
        order["total"] = json!(4_999);
    }
    order
}

/// Whether event `n` matches the filters (all of them alike): the even
/// ones.
pub(crate) fn matches(n: usize) -> bool {
    n.is_multiple_of(2)
}

/// A body of the size the service sends, for the baseline.
fn body(organization: Uuid) -> String {
    json!({
        "id": Uuid::now_v7().to_string(),
        "type": FILTERED,
        "organization_id": organization.to_string(),
        "timestamp": "2026-12-06T10:00:00.000Z",
        "labels": labels(0),
        "data": data(0),
    })
    .to_string()
}

/// 100 webhooks for the filtered type, each with its filter, and 100 for
/// the other type without, at distinct paths.
async fn create_webhooks(service: &Service, receiver: &Receiver, run: &str, filters: &[String]) {
    let mut client = WebhookServiceClient::new(service.channel().await);
    let token = owner_token(service.organization);
    let unfiltered = std::iter::repeat_n(None, WEBHOOKS);
    let all = filters.iter().map(Some).chain(unfiltered).enumerate();
    for (i, filter) in all {
        let (event_type, path) = match filter {
            Some(_) => (FILTERED, format!("/{run}/filtered/{i}")),
            None => (UNFILTERED, format!("/{run}/every/{i}")),
        };
        let request = CreateWebhookRequest {
            organization_id: service.organization.to_string(),
            url: receiver.url(&path),
            events: vec![event_type.into()],
            filter: filter.cloned().unwrap_or_default(),
            ..Default::default()
        };
        client
            .create_webhook(authorized(request, &token))
            .await
            .expect("create webhook");
    }
}

/// The service left out exactly the non-matching (event, webhook) pairs,
/// none by an error, and delivered exactly the rest: otherwise the rounds
/// measured something else than they say, and the bench stops.
async fn check(service: &Service, metrics_addr: &str, no_match: u64, delivered: u64) -> Check {
    let scrape = crate::scrape::scrape(metrics_addr.parse().expect("an address")).await;
    let outcome = |outcome: &str| {
        scrape
            .value("webhook_events_filtered_total", &[("outcome", outcome)])
            .expect("webhook_events_filtered_total is exported") as u64
    };
    let check = Check {
        expected_no_match: no_match,
        metric_no_match: outcome("no_match"),
        metric_error: outcome("error"),
        expected_deliveries: delivered,
        succeeded_deliveries: service.succeeded().await,
    };
    assert!(
        check.metric_no_match == no_match
            && check.metric_error == 0
            && check.succeeded_deliveries == delivered,
        "the filters did not leave out what they should have: {check:?}"
    );
    check
}
