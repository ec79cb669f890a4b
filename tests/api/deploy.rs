//! The Grafana dashboard and the Prometheus alert rules in deploy/ are well
//! formed, and query only metrics the service exports.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::support::scrape::scrape;
use crate::support::{Backend, spawn_app};

const DASHBOARD: &str = "deploy/grafana/webhook-service.json";
const ALERTS: &str = "deploy/prometheus/alerts.yml";

fn read(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names in `text` that can only be this service's metrics: words
/// starting `webhook_`, `grpc_server_` or `process_` (label names such as
/// `grpc_method` do not).
fn metric_names(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| {
            ["webhook_", "grpc_server_", "process_"]
                .iter()
                .any(|prefix| word.starts_with(prefix))
        })
        .collect()
}

/// Every `expr` of the panels' targets.
fn expressions(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => found.push(expr.clone()),
                    _ => expressions(value, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| expressions(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_dashboard_and_the_alert_rules_query_only_metrics_the_service_exports() {
    let app = spawn_app(Backend::Sqlite).await;
    let metrics = scrape(app.metrics_address.expect("metrics served")).await;
    let exported: BTreeSet<&str> = metrics.samples.iter().map(|s| s.name.as_str()).collect();

    let dashboard = read(DASHBOARD);
    let parsed: serde_json::Value =
        serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    expressions(&parsed["panels"], &mut queries);
    assert!(queries.len() >= 15, "{queries:?}");
    let alerts = read(ALERTS);

    for (file, text) in [(DASHBOARD, &dashboard), (ALERTS, &alerts)] {
        for name in metric_names(text) {
            assert!(
                exported.contains(name),
                "{file} queries {name}, which the service does not export"
            );
        }
    }
    let charted = metric_names(&dashboard);
    let needed = [
        "webhook_delivery_attempts_total",
        "webhook_deliveries_finished_total",
        "webhook_deliveries_due",
        "webhook_oldest_due_delivery_age_seconds",
        "webhook_delivery_attempt_duration_seconds_bucket",
        "webhook_delivery_latency_seconds_bucket",
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "webhook_database_up",
    ];
    let missing: Vec<_> = needed.iter().filter(|n| !charted.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard charts none of {missing:?}"
    );
    let alerted = metric_names(&alerts);
    let needed = [
        "webhook_oldest_due_delivery_age_seconds",
        "webhook_delivery_attempts_total",
        "webhook_delivery_results_dropped_total",
        "grpc_server_handled_total",
        "webhook_database_up",
    ];
    let missing: Vec<_> = needed.iter().filter(|n| !alerted.contains(*n)).collect();
    assert!(missing.is_empty(), "no alert watches {missing:?}");
}

/// Checks the rule file's shape with PyYAML, which the project's machines
/// have; prints each rule's name.
const RULES_CHECK: &str = r#"
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for group in doc["groups"]:
    assert isinstance(group["name"], str)
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert re.fullmatch(r"\d+[smhd]", rule.get("for", "0s")), rule
        assert rule["labels"]["severity"] in ("page", "warning"), rule
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        print(rule["alert"])
"#;

#[test]
fn the_alert_rules_parse_as_prometheus_rule_groups() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(ALERTS);
    let output = Command::new("python3")
        .args(["-c", RULES_CHECK])
        .arg(&path)
        .output()
        .expect("python3 (with PyYAML) is on the machine");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let alerts = String::from_utf8(output.stdout).unwrap();
    let alerts: Vec<&str> = alerts.lines().collect();
    for needed in [
        "WebhookServiceDown",
        "WebhookServiceInstanceDown",
        "WebhookDatabaseUnreachable",
        "WebhookDeliveriesOverdue",
        "WebhookDeliveryFailureRatioHigh",
        "WebhookDeliveryResultsDropped",
        "WebhookGrpcInternalErrors",
    ] {
        assert!(alerts.contains(&needed), "no {needed} among {alerts:?}");
    }
}
