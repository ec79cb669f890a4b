//! Every series exists from the start, and counting moves its own only.

use super::*;

/// The value of the sample `series` (name and labels as exposed).
fn sample(metrics: &Metrics, series: &str) -> Option<f64> {
    metrics
        .encode(Format::Prometheus)
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn grpc_code_names_follow_their_numbers() {
    for (number, name) in GRPC_CODES.iter().enumerate() {
        let code = tonic::Code::from_i32(number as i32);
        // tonic's Debug names differ only in case and in "Cancelled".
        let tonic_name = format!("{code:?}").replace("Cancelled", "Canceled");
        assert_eq!(tonic_name.to_lowercase(), name.to_lowercase());
    }
}

#[test]
fn every_label_value_is_exposed_at_zero_from_the_start() {
    let metrics = Metrics::new();
    for outcome in AttemptOutcome::ALL {
        let series = format!(
            "webhook_delivery_attempts_total{{outcome=\"{}\"}}",
            outcome.as_str()
        );
        assert_eq!(sample(&metrics, &series), Some(0.0), "{series}");
    }
    for status in ["succeeded", "failed", "cancelled"] {
        let series = format!("webhook_deliveries_finished_total{{status=\"{status}\"}}");
        assert_eq!(sample(&metrics, &series), Some(0.0), "{series}");
    }
    for event_type in EventType::built_in() {
        let series = format!(
            "webhook_events_published_total{{event_type=\"{}\"}}",
            event_type.as_str()
        );
        assert_eq!(sample(&metrics, &series), Some(0.0), "{series}");
    }
}

#[test]
fn counting_moves_the_series_of_its_labels_only() {
    let metrics = Metrics::new();
    metrics.event_published(&EventType::MEMBER_ADDED);
    metrics.event_published(&EventType::WEBHOOK_PING);
    metrics.attempt_finished(AttemptOutcome::HttpError, Duration::from_millis(30));
    metrics.deliveries_finished(DeliveryStatus::Cancelled, 3);
    metrics.deliveries_finished(DeliveryStatus::Pending, 5);
    let rpc = metrics.rpc("unary", "webhooks.v1.EventService", "PublishEvent");
    rpc.started();
    rpc.handled(tonic::Code::InvalidArgument, Duration::from_millis(2));

    let value = |series: &str| sample(&metrics, series);
    assert_eq!(
        value("webhook_events_published_total{event_type=\"member.added\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("webhook_events_published_total{event_type=\"webhook.ping\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("webhook_events_published_total{event_type=\"member.removed\"}"),
        Some(0.0)
    );
    assert_eq!(
        value("webhook_delivery_attempts_total{outcome=\"http_error\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("webhook_delivery_attempts_total{outcome=\"success\"}"),
        Some(0.0)
    );
    assert_eq!(
        value("webhook_delivery_attempt_duration_seconds_bucket{le=\"0.05\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("webhook_delivery_attempt_duration_seconds_bucket{le=\"0.025\"}"),
        Some(0.0)
    );
    assert_eq!(
        value("webhook_deliveries_finished_total{status=\"cancelled\"}"),
        Some(3.0)
    );
    let rpc_labels = "grpc_type=\"unary\",grpc_service=\"webhooks.v1.EventService\",grpc_method=\"PublishEvent\"";
    assert_eq!(
        value(&format!("grpc_server_started_total{{{rpc_labels}}}")),
        Some(1.0)
    );
    assert_eq!(
        value(&format!(
            "grpc_server_handled_total{{{rpc_labels},grpc_code=\"InvalidArgument\"}}"
        )),
        Some(1.0)
    );
    assert_eq!(
        value(&format!(
            "grpc_server_handled_total{{{rpc_labels},grpc_code=\"OK\"}}"
        )),
        Some(0.0)
    );
    assert_eq!(
        value(&format!(
            "grpc_server_handling_seconds_count{{{rpc_labels}}}"
        )),
        Some(1.0)
    );
}

#[test]
fn an_attempt_counts_in_flight_until_its_guard_drops() {
    let metrics = Metrics::new();
    let first = metrics.attempt_started();
    let second = metrics.attempt_started();
    assert_eq!(sample(&metrics, "webhook_deliveries_in_flight"), Some(2.0));
    drop(first);
    drop(second);
    assert_eq!(sample(&metrics, "webhook_deliveries_in_flight"), Some(0.0));
}

#[test]
fn openmetrics_ends_with_eof_and_prometheus_text_does_not() {
    let metrics = Metrics::new();
    assert!(metrics.encode(Format::OpenMetrics).ends_with("# EOF\n"));
    assert!(!metrics.encode(Format::Prometheus).contains("# EOF"));
}

#[test]
fn the_database_gauge_starts_up_and_follows_the_probe() {
    let metrics = Metrics::new();
    assert_eq!(sample(&metrics, "webhook_database_up"), Some(1.0));
    metrics.set_database_up(false);
    assert_eq!(sample(&metrics, "webhook_database_up"), Some(0.0));
    metrics.set_database_up(true);
    assert_eq!(sample(&metrics, "webhook_database_up"), Some(1.0));
}
