//! Prometheus metrics on `GET /metrics`: real deliveries and real calls move
//! the counters under their labels, and no label names an organization, a
//! webhook or a URL.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::scrape::{self, Scrape, scrape, scrape_until};
use crate::support::{Backend, TestApp, deliver_to, spawn_app, spawn_app_with};
use webhook_service::config::ListenAddr;

/// WEBHOOK_METRICS_BACKLOG_REFRESH where a test reads the backlog gauges.
const BACKLOG_REFRESH: Duration = Duration::from_millis(50);
use webhook_service::domain::event_type::BUILT_IN;
use webhook_service::store::STATEMENT_KINDS;

on_every_backend!(
    deliveries_attempts_events_and_calls_are_counted_under_their_labels,
    the_due_gauges_count_the_deliveries_waiting_in_the_store_but_not_a_paused_webhooks,
    the_statements_run_on_the_database_are_counted_by_kind,
);

const WAIT: Duration = Duration::from_secs(20);
const WEBHOOKS: &str = "webhooks.v1.WebhookService";
const EVENTS: &str = "webhooks.v1.EventService";

fn metrics_address(app: &TestApp) -> SocketAddr {
    app.metrics_address
        .expect("the test servers serve metrics on a free port")
}

/// Handled calls of `service`/`method` that ended with `code`.
fn handled(scrape: &Scrape, service: &str, method: &str, code: &str) -> Option<f64> {
    scrape.value(
        "grpc_server_handled_total",
        &[
            ("grpc_type", "unary"),
            ("grpc_service", service),
            ("grpc_method", method),
            ("grpc_code", code),
        ],
    )
}

async fn deliveries_attempts_events_and_calls_are_counted_under_their_labels(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "50ms,50ms".into();
        s.timeout = Duration::from_secs(10);
    })
    .await;
    receiver.always("/broken", 500);
    // Answers after a while: its webhook is deleted meanwhile.
    receiver.script(
        "/doomed",
        [Reply::status(200).after(Duration::from_secs(1))],
    );
    let ok = app.subscribe(&receiver.url("/ok"), &["member.added"]).await;
    let broken = app
        .subscribe(&receiver.url("/broken"), &["member.added"])
        .await;
    let doomed = app
        .subscribe(&receiver.url("/doomed"), &["member.removed"])
        .await;
    let doomed_id = doomed.webhook.unwrap().id;
    let refused = app
        .create_webhook(app.create_request("http://plain.example/hook", &["member.added"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    let published = app
        .publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    let unknown = app
        .publish("member.exploded", json!({}), "")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    app.publish("member.removed", json!({}), "").await.unwrap();
    receiver.wait_for("/doomed", 1, WAIT).await;
    app.delete_webhook(&doomed_id).await.unwrap();
    receiver.wait_for("/broken", 3, WAIT).await;
    let mut settled = app.wait_until_settled(WAIT).await;
    settled.sort();
    assert_eq!(
        settled,
        [
            ("cancelled".to_owned(), 0),
            ("failed".to_owned(), 3),
            ("succeeded".to_owned(), 1)
        ]
    );

    // Counted once their results are committed: the cancelled delivery's
    // attempt still succeeds, later, but its delivery stays cancelled.
    let metrics = scrape_until(metrics_address(&app), WAIT, |s| {
        s.sum("webhook_delivery_attempts_total", &[]) >= 5.0
            && s.sum("webhook_deliveries_finished_total", &[]) >= 3.0
    })
    .await;
    let value = |name: &str, labels: &[(&str, &str)]| metrics.value(name, labels);
    let published_of = |t: &str| value("webhook_events_published_total", &[("event_type", t)]);
    assert_eq!(published_of("member.added"), Some(1.0));
    assert_eq!(published_of("member.removed"), Some(1.0));
    assert_eq!(published_of("webhook.created"), Some(3.0));
    assert_eq!(published_of("invite.created"), Some(0.0));
    let attempts = |o: &str| value("webhook_delivery_attempts_total", &[("outcome", o)]);
    assert_eq!(attempts("success"), Some(2.0));
    assert_eq!(attempts("http_error"), Some(3.0));
    assert_eq!(attempts("timeout"), Some(0.0));
    let finished = |s: &str| value("webhook_deliveries_finished_total", &[("status", s)]);
    assert_eq!(finished("succeeded"), Some(1.0));
    assert_eq!(finished("failed"), Some(1.0));
    assert_eq!(finished("cancelled"), Some(1.0));
    assert_eq!(
        value("webhook_delivery_attempt_duration_seconds_count", &[]),
        Some(5.0)
    );
    assert_eq!(
        value("webhook_delivery_latency_seconds_count", &[]),
        Some(2.0)
    );
    assert_eq!(value("webhook_deliveries_in_flight", &[]), Some(0.0));
    assert_eq!(
        value("webhook_delivery_results_dropped_total", &[]),
        Some(0.0)
    );

    assert_eq!(
        handled(&metrics, WEBHOOKS, "CreateWebhook", "OK"),
        Some(3.0)
    );
    assert_eq!(
        handled(&metrics, WEBHOOKS, "CreateWebhook", "InvalidArgument"),
        Some(1.0)
    );
    assert_eq!(
        handled(&metrics, WEBHOOKS, "DeleteWebhook", "OK"),
        Some(1.0)
    );
    assert_eq!(handled(&metrics, EVENTS, "PublishEvent", "OK"), Some(2.0));
    assert_eq!(
        handled(&metrics, EVENTS, "PublishEvent", "InvalidArgument"),
        Some(1.0)
    );
    assert_eq!(
        handled(&metrics, EVENTS, "PublishEvent", "NotFound"),
        Some(0.0)
    );
    let publish = [
        ("grpc_type", "unary"),
        ("grpc_service", EVENTS),
        ("grpc_method", "PublishEvent"),
    ];
    assert_eq!(value("grpc_server_started_total", &publish), Some(3.0));
    assert_eq!(
        value("grpc_server_handling_seconds_count", &publish),
        Some(3.0)
    );

    // Nothing that a caller or an organization chooses is a label.
    let ids = [
        app.organization.to_string(),
        ok.webhook.unwrap().id,
        broken.webhook.unwrap().id,
        doomed_id,
        published.event_id,
        receiver.url("/ok"),
        format!("127.0.0.1:{}", receiver.port),
    ];
    for id in &ids {
        assert!(!metrics.text.contains(id.as_str()), "{id} is exposed");
    }
    assert_labels_are_bounded(&metrics);
}

/// Every label of every sample takes one of the values the service knows
/// beforehand.
fn assert_labels_are_bounded(metrics: &Scrape) {
    let event_types: BTreeSet<&str> = BUILT_IN
        .iter()
        .map(|(name, _)| *name)
        .chain(["webhook.ping"])
        .collect();
    let known_services = [
        WEBHOOKS,
        EVENTS,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    for sample in &metrics.samples {
        for (key, value) in &sample.labels {
            let known = match key.as_str() {
                "event_type" => event_types.contains(value.as_str()),
                "outcome" if sample.name.starts_with("webhook_events_filtered") => {
                    ["no_match", "error"].contains(&value.as_str())
                }
                "outcome" => [
                    "success",
                    "http_error",
                    "timeout",
                    "connect",
                    "blocked",
                    "request",
                    "proxy",
                    "oauth2",
                ]
                .contains(&value.as_str()),
                "status" => ["succeeded", "failed", "cancelled"].contains(&value.as_str()),
                "kind" => STATEMENT_KINDS.contains(&value.as_str()),
                "grpc_type" => ["unary", "server_stream", "client_stream", "bidi_stream"]
                    .contains(&value.as_str()),
                "grpc_service" => known_services.contains(&value.as_str()),
                "grpc_method" => value.chars().all(|c| c.is_ascii_alphanumeric()),
                "grpc_code" => value.chars().all(|c| c.is_ascii_alphabetic()),
                "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
                _ => false,
            };
            assert!(
                known,
                "{}: {key}={value:?} is not a bounded label",
                sample.name
            );
        }
    }
}

async fn the_due_gauges_count_the_deliveries_waiting_in_the_store_but_not_a_paused_webhooks(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        // One request at a time, held by the receiver: the rest waits.
        s.timeout = Duration::from_secs(30);
        s.max_in_flight = 1;
        s.max_per_endpoint = 1;
        s.metrics_backlog_refresh = BACKLOG_REFRESH;
    })
    .await;
    app.subscribe(&receiver.url("/held"), &["member.added"])
        .await;
    let paused = app
        .subscribe(&receiver.url("/paused"), &["member.removed"])
        .await;
    receiver.pause();
    app.publish("member.added", json!({ "n": 0 }), "")
        .await
        .unwrap();
    for n in 0..3 {
        app.publish("member.removed", json!({ "n": n }), "")
            .await
            .unwrap();
    }
    for n in 1..4 {
        app.publish("member.added", json!({ "n": n }), "")
            .await
            .unwrap();
    }
    // Its deliveries stay pending, waiting on purpose.
    app.set_enabled(&paused.webhook.unwrap().id, false).await;
    let pending = app.deliveries().await;
    assert_eq!(pending.iter().filter(|(s, _)| s == "pending").count(), 7);

    // Read every BACKLOG_REFRESH: a reading taken while publishing may
    // have been 4 by chance, so only one taken two refreshes after the
    // pause counts; the delivery in flight is still due.
    let paused_at = std::time::Instant::now();
    let waiting = scrape_until(metrics_address(&app), WAIT, |s| {
        paused_at.elapsed() >= 2 * BACKLOG_REFRESH
            && s.value("webhook_deliveries_due", &[]) == Some(4.0)
    })
    .await;
    assert!(waiting.value("webhook_deliveries_in_flight", &[]) >= Some(1.0));
    let age = waiting
        .value("webhook_oldest_due_delivery_age_seconds", &[])
        .unwrap();
    assert!(age > 0.0 && age < WAIT.as_secs_f64(), "{age}");

    receiver.release();
    receiver.wait_for("/held", 4, WAIT).await;
    let drained = scrape_until(metrics_address(&app), WAIT, |s| {
        s.value("webhook_deliveries_due", &[]) == Some(0.0)
    })
    .await;
    assert_eq!(
        drained.value("webhook_oldest_due_delivery_age_seconds", &[]),
        Some(0.0)
    );
}

/// A publish and its delivery move the statement counters: the event's,
/// the delivery's and the attempt's inserts, the delivery's update, the
/// two write transactions (publish, result), and their time.
async fn the_statements_run_on_the_database_are_counted_by_kind(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/ok"), &["member.added"]).await;
    let address = metrics_address(&app);
    let succeeded = |s: &Scrape| {
        s.value(
            "webhook_deliveries_finished_total",
            &[("status", "succeeded")],
        )
        .unwrap_or(0.0)
    };
    let before = scrape(address).await;
    for kind in STATEMENT_KINDS {
        let counted = before.value("webhook_database_statements_total", &[("kind", kind)]);
        assert!(counted.is_some(), "no series for {kind}");
    }
    assert!(before.sum("webhook_database_statements_total", &[]) > 0.0);

    app.publish("member.added", json!({"n": 1}), "")
        .await
        .unwrap();
    receiver.wait_for("/ok", 1, WAIT).await;
    let after = scrape_until(address, WAIT, |s| succeeded(s) > succeeded(&before)).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels).unwrap() - before.value(name, labels).unwrap()
    };
    let statements = |kind: &str| grew("webhook_database_statements_total", &[("kind", kind)]);
    assert!(statements("insert") >= 3.0, "{}", statements("insert"));
    assert!(statements("update") >= 1.0, "{}", statements("update"));
    assert!(grew("webhook_database_write_transactions_total", &[]) >= 2.0);
    assert!(grew("webhook_database_statement_seconds_total", &[]) > 0.0);
    assert_eq!(grew("webhook_database_statement_errors_total", &[]), 0.0);
}

#[tokio::test]
async fn with_metrics_off_no_metrics_address_is_bound() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.metrics_addr = ListenAddr::Off).await;
    assert_eq!(app.metrics_address, None);
    // The service itself still works.
    app.publish("member.added", json!({}), "").await.unwrap();
}

#[tokio::test]
async fn scrapers_get_prometheus_text_or_openmetrics_and_other_paths_get_404() {
    let app = spawn_app(Backend::Sqlite).await;
    let address = metrics_address(&app);

    let text = scrape::get(address, "/metrics", None).await;
    assert_eq!(text.status, 200);
    assert_eq!(
        text.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(text.text.contains("# TYPE webhook_deliveries_due gauge"));
    assert!(!text.text.contains("# EOF"));

    let openmetrics = scrape::get(
        address,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    )
    .await;
    assert_eq!(openmetrics.status, 200);
    assert_eq!(
        openmetrics.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(openmetrics.text.ends_with("# EOF\n"));

    for path in ["/", "/metric", "/metrics/x", "/health"] {
        assert_eq!(scrape::get(address, path, None).await.status, 404, "{path}");
    }
    let posted = scrape::client()
        .post(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 405);
}

#[tokio::test]
async fn process_metrics_describe_the_running_process() {
    let app = spawn_app(Backend::Sqlite).await;
    let metrics = scrape(metrics_address(&app)).await;
    let value = |name: &str| {
        metrics
            .value(name, &[])
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert!(value("process_resident_memory_bytes") > 1024.0 * 1024.0);
    assert!(value("process_cpu_seconds_total") > 0.0);
    let open = value("process_open_fds");
    assert!(open >= 3.0 && open <= value("process_max_fds"), "{open}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(started <= now + 1.0 && started > now - 3600.0, "{started}");
}
