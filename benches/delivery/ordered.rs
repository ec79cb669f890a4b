//! Ordered delivery (issue 23, item 5): what one-at-a-time per key costs.
//! One endpoint, 16 ordering keys, the same events published to an
//! ordered webhook and to an unordered one, each on a fresh database and
//! service, in alternating rounds (O U U O O U) so a drift of the machine
//! falls on both alike; medians of each.
//!
//! What bounds the ordered rate: a key has one request open at a time, and
//! the next one starts only after the head's attempt is recorded, the next
//! delivery is made the head (promoted) and a worker claims it. So per key
//! the rate is about 1 / (round trip + record + promote + claim), and the
//! endpoint's rate is that times the keys (16 here, the same as the
//! service's default per-endpoint cap, so with nothing but the round trip
//! it could match the unordered rate). Every millisecond spent between one
//! answer and the next request of its key is lost to all of its key's
//! backlog: a commit that waits for the disk, a batch that waits to fill,
//! or a promoted head that waits for a claim round instead of a wake.
//!
//! The receiver checks the order: each event carries its key and number in
//! `data`, and every publisher sends its events one call after the other,
//! timing each. With 32 publishers and 16 keys (`key-{n % 16}`, publisher
//! `p` sending `n = p, p + 32, ...`), two publishers share a key, so only
//! part of a key's publish order is knowable: an event whose call returned
//! before another's was sent committed first (docs/delivery.md, "Publish
//! order is commit order"). That covers each publisher's own sequence
//! entirely. A delivery that arrives after one of its key published after
//! it is counted `late`; the ordered side stops the bench on any.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{CreateWebhookRequest, Ordering, PublishEventRequest};

use crate::cost::{Cost, Meter};
use crate::database::DatabaseCost;
use crate::receiver::Receiver;
use crate::rounds::{self, median};
use crate::scenarios::{Databases, GRPC_CHANNELS, PUBLISHERS, percentile};
use crate::service::{Service, authorized, owner_token};

pub const KEYS: usize = 16;
/// Rounds of each side; each round is a fresh database and service.
const ROUNDS: usize = 3;
const LIMIT: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, Serialize)]
pub struct OrderedDelivery {
    pub events: usize,
    pub keys: usize,
    pub publishers: usize,
    pub rounds_each: usize,
    pub ordered: Side,
    pub unordered: Side,
    /// Median deliveries/s ordered over unordered.
    pub ratio: f64,
}

/// One webhook's rounds, in the order run, and their medians.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub ordering: &'static str,
    pub rounds: Vec<Round>,
    pub median_seconds: f64,
    pub median_per_second: f64,
    pub median_cpu_us_per_delivery: f64,
    /// On PostgreSQL, the database's CPU and WAL per delivery (medians).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_postgres_cpu_us_per_delivery: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_wal_bytes_per_delivery: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// From the first PublishEvent until the store counts every delivery
    /// succeeded.
    pub seconds: f64,
    pub deliveries_per_second: f64,
    pub cost: Cost,
    /// Deliveries that reached the receiver after one of their key whose
    /// PublishEvent was sent after theirs had returned. 0 when ordered.
    pub late: usize,
    /// Events the receiver got more than once.
    pub duplicates: usize,
    /// The most requests of one key open at the receiver at once.
    pub peak_in_flight_per_key: usize,
    /// Per delivery, from the later of its key's previous arrival and its
    /// own PublishEvent's return until it arrived: when ordered, the turn
    /// of one key (answer, record, promote, claim, send). A promotion that
    /// waited for the poll interval (1 s) instead of a wake would show here.
    pub key_turn: Spread,
}

/// Milliseconds: median, 99th percentile and the most.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Side {
    fn new(ordering: &'static str) -> Self {
        Self {
            ordering,
            rounds: Vec::new(),
            median_seconds: f64::NAN,
            median_per_second: f64::NAN,
            median_cpu_us_per_delivery: f64::NAN,
            median_postgres_cpu_us_per_delivery: None,
            median_wal_bytes_per_delivery: None,
        }
    }

    fn finish(mut self) -> Self {
        let of = |f: fn(&Round) -> f64| median(&self.rounds.iter().map(f).collect::<Vec<_>>());
        self.median_seconds = of(|r| r.seconds);
        self.median_per_second = of(|r| r.deliveries_per_second);
        self.median_cpu_us_per_delivery = of(|r| r.cost.service_cpu_us_per_delivery);
        let database = |f: fn(&DatabaseCost) -> f64| {
            let values: Option<Vec<f64>> = self
                .rounds
                .iter()
                .map(|r| r.cost.database.as_ref().map(f))
                .collect();
            values.map(|v| median(&v))
        };
        self.median_postgres_cpu_us_per_delivery = database(|d| d.postgres_cpu_us_per_delivery);
        self.median_wal_bytes_per_delivery = database(|d| d.wal_bytes_per_delivery);
        self
    }
}

pub async fn ordered_delivery(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events: usize,
) -> OrderedDelivery {
    let (mut ordered, mut unordered) = (Side::new("ordered"), Side::new("unordered"));
    for i in 0..2 * ROUNDS {
        // O U U O O U: `rounds::kind` without its warm-up pair, since each
        // round starts a service of its own anyway.
        let is_ordered = rounds::kind(i + 2).0;
        let round = run_round(databases, receiver, events, is_ordered).await;
        eprintln!(
            "   {} round: {:.0} deliveries/s, {:.0} us CPU each{}, {} late, peak {} per key, key turn p50/p99/max {:.2}/{:.2}/{:.1} ms",
            if is_ordered { "ordered" } else { "unordered" },
            round.deliveries_per_second,
            round.cost.service_cpu_us_per_delivery,
            crate::database::summary_of(round.cost.database.as_ref()),
            round.late,
            round.peak_in_flight_per_key,
            round.key_turn.p50_ms,
            round.key_turn.p99_ms,
            round.key_turn.max_ms
        );
        if is_ordered {
            ordered.rounds.push(round);
        } else {
            unordered.rounds.push(round);
        }
    }
    let (ordered, unordered) = (ordered.finish(), unordered.finish());
    OrderedDelivery {
        events,
        keys: KEYS,
        publishers: PUBLISHERS,
        rounds_each: ROUNDS,
        ratio: ordered.median_per_second / unordered.median_per_second,
        ordered,
        unordered,
    }
}

/// One webhook (ordered or not) on a fresh database and service: publish
/// `events`, wait for every success, then check what the receiver got.
async fn run_round(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events: usize,
    ordered: bool,
) -> Round {
    let path = format!("/{}/ok/0", Uuid::new_v4().simple());
    receiver.in_flight_by(&path, "/data/ordering_key");
    let service = Service::start(&databases.fresh(), &receiver.ca_file, &[]).await;
    create_webhook(&service, &receiver.url(&path), ordered).await;
    let clients = service.event_clients(GRPC_CHANNELS).await;
    let token = service.publisher_token();
    // Made before the clock starts: the bench's own work is not the service's.
    let batches: Vec<Vec<_>> = (0..PUBLISHERS)
        .map(|p| {
            (p..events)
                .step_by(PUBLISHERS)
                .map(|n| (n, request(&service, n, &token)))
                .collect()
        })
        .collect();

    let meter = Meter::start(&service, receiver).await;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (p, requests) in batches.into_iter().enumerate() {
        let mut client = clients[p % clients.len()].clone();
        tasks.spawn(async move {
            let mut calls = Vec::with_capacity(requests.len());
            for (n, request) in requests {
                let sent = Instant::now();
                client.publish_event(request).await.expect("publish");
                calls.push((n, sent, Instant::now()));
            }
            calls
        });
    }
    let mut calls = vec![None; events];
    for (n, sent, returned) in tasks.join_all().await.into_iter().flatten() {
        calls[n] = Some((sent, returned));
    }
    // The receiver records a request before answering it, and the service
    // counts it succeeded after the answer: every success is recorded.
    service.wait_succeeded(events as u64, LIMIT).await;
    let seconds = started.elapsed().as_secs_f64();
    let cost = meter.finish(&service, receiver, events).await;

    let calls: Vec<_> = calls.into_iter().map(|c| c.expect("every call")).collect();
    let Checked {
        late,
        duplicates,
        key_turn,
    } = check_order(receiver, &path, &calls);
    let peak_in_flight_per_key = (0..KEYS)
        .map(|k| receiver.peak_in_flight(&format!("{path}#{}", key(k))))
        .max()
        .unwrap_or(0);
    if ordered {
        assert!(
            late == 0,
            "ordered webhook: {late} deliveries arrived after a later-published event of their key"
        );
        assert!(
            peak_in_flight_per_key == 1,
            "ordered webhook: {peak_in_flight_per_key} requests of one key open at once"
        );
    }
    Round {
        seconds,
        deliveries_per_second: events as f64 / seconds,
        cost,
        late,
        duplicates,
        peak_in_flight_per_key,
        key_turn,
    }
}

struct Checked {
    late: usize,
    duplicates: usize,
    key_turn: Spread,
}

/// What `path` received, given each event's PublishEvent (sent, returned)
/// instants; panics if an event is missing.
fn check_order(receiver: &Receiver, path: &str, calls: &[(Instant, Instant)]) -> Checked {
    let mut seen = vec![0usize; calls.len()];
    // Per key, the latest `sent` among the deliveries arrived so far, and
    // when the last one arrived.
    let mut latest_sent: HashMap<String, Instant> = HashMap::new();
    let mut last_arrival: HashMap<String, Instant> = HashMap::new();
    let mut turns = Vec::with_capacity(calls.len());
    let mut late = 0;
    // In arrival order: the receiver appends under its lock.
    for received in receiver.received(path) {
        let body = received.json();
        let data = &body["data"];
        let key = data["ordering_key"].as_str().expect("data.ordering_key");
        let n: usize = data["n"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .expect("data.n");
        seen[n] += 1;
        let (sent, returned) = calls[n];
        let latest = latest_sent.entry(key.to_owned()).or_insert(sent);
        // An earlier arrival was sent after this one had committed.
        if *latest > returned {
            late += 1;
        }
        *latest = (*latest).max(sent);
        let ready = last_arrival
            .insert(key.to_owned(), received.at)
            .map_or(returned, |previous| previous.max(returned));
        turns.push(received.at.saturating_duration_since(ready).as_secs_f64() * 1000.0);
    }
    let missing = seen.iter().filter(|&&s| s == 0).count();
    assert!(missing == 0, "{path}: {missing} events never arrived");
    turns.sort_by(f64::total_cmp);
    Checked {
        late,
        duplicates: seen.iter().filter(|&&s| s > 1).count(),
        key_turn: Spread {
            p50_ms: percentile(&turns, 0.5),
            p99_ms: percentile(&turns, 0.99),
            max_ms: turns.last().copied().unwrap_or(f64::NAN),
        },
    }
}

fn key(k: usize) -> String {
    format!("key-{k}")
}

/// Event `n`, of key `n % 16`, carrying its key and number for the
/// receiver; its data about the size of the other scenarios'.
fn request(service: &Service, n: usize, token: &str) -> tonic::Request<PublishEventRequest> {
    let key = key(n % KEYS);
    let data = json!({
        "user_id": format!("u_{n:08}"),
        "email": format!("user{n}@example.com"),
        "role": "MEMBER",
        "ordering_key": key,
        "n": n.to_string(),
    });
    let request = PublishEventRequest {
        organization_id: service.organization.to_string(),
        r#type: "member.added".into(),
        data: Some(serde_json::from_value(data).expect("data as a Struct")),
        ordering_key: key,
        ..Default::default()
    };
    authorized(request, token)
}

async fn create_webhook(service: &Service, url: &str, ordered: bool) {
    let mut client = WebhookServiceClient::new(service.channel().await);
    let ordering = if ordered {
        Ordering::Ordered
    } else {
        Ordering::Unordered
    };
    let request = CreateWebhookRequest {
        organization_id: service.organization.to_string(),
        url: url.to_owned(),
        events: vec!["member.added".into()],
        ordering: ordering.into(),
        ..Default::default()
    };
    let created = client
        .create_webhook(authorized(request, &owner_token(service.organization)))
        .await
        .expect("create webhook")
        .into_inner();
    assert_eq!(created.webhook.expect("a webhook").ordering(), ordering);
}
