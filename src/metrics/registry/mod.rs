//! The registry and its metric families, built once at start-up, and the
//! cheap cloneable [`Metrics`] handle that the components count through.
//!
//! The hot paths never look a label set up: each label value's series is
//! created here once and kept (counters and gauges are atomics).
//!
//! Adding a metric: a field in `Families`, its registration in
//! [`Metrics::new`], and a method that counts.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::Format;
use super::database::DatabaseCollector;
use super::jwks::JwksCollector;
use super::process::ProcessCollector;
use crate::auth::JwksStats;
use crate::domain::{DeliveryStatus, EventType};
use crate::store::StatementStats;

mod labels;

pub use labels::AttemptOutcome;
use labels::{ATTEMPT_BUCKETS, FINISHED, GRPC_CODES, LATENCY_BUCKETS, RPC_BUCKETS};

type Labels<const N: usize> = [(&'static str, String); N];

/// The metrics of the service, registered once; clones share them.
#[derive(Clone)]
pub struct Metrics(Arc<Families>);

struct Families {
    registry: Registry,
    published: Family<Labels<1>, Counter>,
    /// `published`'s series for each known event type.
    published_by_type: Vec<(EventType, Counter)>,
    /// By `AttemptOutcome`, in the order of `AttemptOutcome::ALL`.
    attempts: Vec<Counter>,
    /// By final status, in the order of `FINISHED`.
    finished: Vec<Counter>,
    /// Subscribers left out by their filters: no match, then error.
    filtered: [Counter; 2],
    attempt_duration: Histogram,
    latency: Histogram,
    due: Gauge,
    oldest_due_age: Gauge<f64, AtomicU64>,
    in_flight: Gauge,
    results_dropped: Counter,
    identity_clients_evicted: Counter,
    database_up: Gauge,
    rpc_started: Family<Labels<3>, Counter>,
    rpc_handled: Family<Labels<4>, Counter>,
    rpc_handling: Family<Labels<3>, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric of the service, registered, at zero.
    pub fn new() -> Self {
        Self::watching(None, None)
    }

    /// As [`Metrics::new`], and the fetches of the identity provider's key
    /// set when tokens are checked against one, and what the store asked of
    /// its database.
    pub fn watching(jwks: Option<Arc<JwksStats>>, database: Option<Arc<StatementStats>>) -> Self {
        let mut registry = Registry::default();
        // The built-in types from the start; the catalogue's others when
        // first published (at most `MAX_CUSTOM_TYPES` of them).
        let known_types: Vec<EventType> = EventType::built_in()
            .chain([EventType::WEBHOOK_PING])
            .collect();
        let (published, series) = counters_by(
            &mut registry,
            "webhook_events_published",
            "Events stored with their deliveries, by type (repeated idempotency keys not counted)",
            "event_type",
            known_types.iter().map(|t| t.as_str().to_owned()),
        );
        let published_by_type = known_types.into_iter().zip(series).collect();
        let (_, attempts) = counters_by(
            &mut registry,
            "webhook_delivery_attempts",
            "Delivery attempts made by this process, by outcome",
            "outcome",
            AttemptOutcome::ALL.iter().map(|o| o.as_str()),
        );
        let (_, finished) = counters_by(
            &mut registry,
            "webhook_deliveries_finished",
            "Deliveries that reached a final status, by status",
            "status",
            FINISHED.iter().map(|s| s.as_str()),
        );
        let (_, filtered) = counters_by(
            &mut registry,
            "webhook_events_filtered",
            "Deliveries not made because the webhook's filter did not match the event (no_match) or failed on it (error)",
            "outcome",
            ["no_match", "error"].into_iter(),
        );
        let filtered = [filtered[0].clone(), filtered[1].clone()];

        let attempt_duration = Histogram::new(ATTEMPT_BUCKETS);
        registry.register(
            "webhook_delivery_attempt_duration_seconds",
            "How long delivery attempts took, connection included",
            attempt_duration.clone(),
        );
        let latency = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "webhook_delivery_latency_seconds",
            "From an event's commit to its successful delivery, retries included",
            latency.clone(),
        );
        let due = Gauge::default();
        registry.register(
            "webhook_deliveries_due",
            "Pending deliveries due now or earlier, all organizations and processes together (paused webhooks' excluded)",
            due.clone(),
        );
        let oldest_due_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "webhook_oldest_due_delivery_age_seconds",
            "How long the longest-waiting due delivery has been due (0 when none is)",
            oldest_due_age.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "webhook_deliveries_in_flight",
            "Delivery requests this process has in flight",
            in_flight.clone(),
        );
        let results_dropped = Counter::default();
        registry.register(
            "webhook_delivery_results_dropped",
            "Attempt results that could not be recorded (the delivery is sent again when its lease runs out)",
            results_dropped.clone(),
        );
        let identity_clients_evicted = Counter::default();
        registry.register(
            "webhook_delivery_identity_clients_evicted",
            "HTTP clients of client certificates dropped from the bounded cache to make room (their connections close; a steady rate means more identities are in use than the cache holds)",
            identity_clients_evicted.clone(),
        );

        // 1 from the start: the application is built only once its
        // database answered; the health monitor keeps it true after that.
        let database_up = Gauge::default();
        database_up.set(1);
        registry.register(
            "webhook_database_up",
            "1 while this process's health probe reaches the database, 0 while it does not (health NOT_SERVING)",
            database_up.clone(),
        );

        let rpc_started = Family::<Labels<3>, Counter>::default();
        registry.register(
            "grpc_server_started",
            "Total number of RPCs started on the server",
            rpc_started.clone(),
        );
        let rpc_handled = Family::<Labels<4>, Counter>::default();
        registry.register(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure",
            rpc_handled.clone(),
        );
        let rpc_handling =
            Family::<Labels<3>, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                Histogram::new(RPC_BUCKETS)
            });
        registry.register(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server",
            rpc_handling.clone(),
        );

        registry.register_collector(Box::new(ProcessCollector::new()));
        if let Some(stats) = jwks {
            registry.register_collector(Box::new(JwksCollector(stats)));
        }
        if let Some(stats) = database {
            registry.register_collector(Box::new(DatabaseCollector(stats)));
        }

        Self(Arc::new(Families {
            registry,
            published,
            published_by_type,
            attempts,
            finished,
            filtered,
            attempt_duration,
            latency,
            due,
            oldest_due_age,
            in_flight,
            results_dropped,
            identity_clients_evicted,
            database_up,
            rpc_started,
            rpc_handled,
            rpc_handling,
        }))
    }

    /// Every metric, in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut text = String::with_capacity(64 * 1024);
        let encoded = match format {
            Format::OpenMetrics => text::encode(&mut text, &self.0.registry),
            Format::Prometheus => prometheus_text::encode(&mut text, &self.0.registry),
        };
        // Writing to a String fails only on a metric that cannot encode.
        if let Err(err) = encoded {
            tracing::error!(error = %err, "cannot encode the metrics");
        }
        text
    }

    /// Subscribers of a committed event that its filters left out: `no_match`
    /// evaluated to false, `error` failed on it.
    pub fn events_filtered(&self, no_match: u64, error: u64) {
        let [by_no_match, by_error] = &self.0.filtered;
        by_no_match.inc_by(no_match);
        by_error.inc_by(error);
    }

    /// An event was committed (not a repeated idempotency key).
    pub fn event_published(&self, event_type: &EventType) {
        match self
            .0
            .published_by_type
            .iter()
            .find(|(t, _)| t == event_type)
        {
            Some((_, series)) => series.inc(),
            None => self
                .0
                .published
                .get_or_create(&[("event_type", event_type.as_str().into())])
                .inc(),
        };
    }

    /// A delivery request leaves; it counts in flight until the guard drops.
    pub fn attempt_started(&self) -> InFlight<'_> {
        self.0.in_flight.inc();
        InFlight(&self.0.in_flight)
    }

    /// An attempt ended with `outcome` after `duration`.
    pub fn attempt_finished(&self, outcome: AttemptOutcome, duration: Duration) {
        let index = AttemptOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .expect("every outcome is in ALL");
        self.0.attempts[index].inc();
        self.0.attempt_duration.observe(duration.as_secs_f64());
    }

    /// An event reached an endpoint `latency` after it was committed.
    pub fn delivered(&self, latency: Duration) {
        self.0.latency.observe(latency.as_secs_f64());
    }

    /// `count` deliveries reached `status`; `Pending` is not final and is
    /// not counted.
    pub fn deliveries_finished(&self, status: DeliveryStatus, count: u64) {
        if count == 0 {
            return;
        }
        if let Some(index) = FINISHED.iter().position(|s| *s == status) {
            self.0.finished[index].inc_by(count);
        }
    }

    /// An attempt's result could not be recorded.
    pub fn result_dropped(&self) {
        self.0.results_dropped.inc();
    }

    /// A client certificate's HTTP client was evicted from the cache.
    pub fn identity_client_evicted(&self) {
        self.0.identity_clients_evicted.inc();
    }

    /// Whether the health probe's last ping reached the database.
    pub fn set_database_up(&self, up: bool) {
        self.0.database_up.set(i64::from(up));
    }

    /// The store-wide backlog: `due` deliveries, the oldest due for
    /// `oldest_age` (zero when none is).
    pub fn set_backlog(&self, due: u64, oldest_age: Duration) {
        self.0.due.set(i64::try_from(due).unwrap_or(i64::MAX));
        self.0.oldest_due_age.set(oldest_age.as_secs_f64());
    }

    /// The series of one gRPC method, every code's among them at zero, as
    /// go-grpc-prometheus initializes them. `kind` is `unary`,
    /// `client_stream`, `server_stream` or `bidi_stream`.
    pub fn rpc(&self, kind: &'static str, service: &str, method: &str) -> RpcMetrics {
        let labels: Labels<3> = [
            ("grpc_type", kind.to_owned()),
            ("grpc_service", service.to_owned()),
            ("grpc_method", method.to_owned()),
        ];
        let handled = GRPC_CODES.map(|code| {
            let [kind, service, method] = labels.clone();
            self.0.rpc_handled.get_or_create_owned(&[
                kind,
                service,
                method,
                ("grpc_code", code.to_owned()),
            ])
        });
        RpcMetrics {
            started: self.0.rpc_started.get_or_create_owned(&labels),
            handled,
            handling: self.0.rpc_handling.get_or_create_owned(&labels),
        }
    }
}

/// Registers a counter family of one label, and creates its series for
/// each of `values`, returned in their order.
fn counters_by(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl Iterator<Item = impl Into<String>>,
) -> (Family<Labels<1>, Counter>, Vec<Counter>) {
    let family = Family::<Labels<1>, Counter>::default();
    registry.register(name, help, family.clone());
    let series = values
        .map(|value| family.get_or_create_owned(&[(label, value.into())]))
        .collect();
    (family, series)
}

/// A delivery request in flight; dropping it counts it out.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The series of one gRPC method.
#[derive(Debug)]
pub struct RpcMetrics {
    started: Counter,
    /// By code number.
    handled: [Counter; 17],
    handling: Histogram,
}

impl RpcMetrics {
    /// A call arrived.
    pub fn started(&self) {
        self.started.inc();
    }

    /// A call ended with `code`, `elapsed` after it arrived.
    pub fn handled(&self, code: tonic::Code, elapsed: Duration) {
        if let Some(series) = self.handled.get(code as usize) {
            series.inc();
        }
        self.handling.observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests;
