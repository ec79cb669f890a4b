//! One delivery attempt: send it, log it, and turn what came back into the
//! record the writer stores, with the next step from the retry policy.

use chrono::Utc;
use tokio::sync::mpsc;
use tracing::{Instrument, field::Empty};

use super::client::{Client, Outcome, Report, Request};
use super::scheduler::Signal;
use super::signature::Signer;
use super::{DeliveryConfig, RetryPolicy, traced};
use crate::domain::clock;
use crate::metrics::{AttemptOutcome, Metrics};
use crate::store::{AttemptRecord, Claimed, Next};
use crate::telemetry::traces;

/// The kind of a failure of the egress proxy (see `egress.rs`).
const PROXY: &str = "proxy";

/// Makes one attempt of `claim`, logs and counts it, and hands its result
/// to the writer (waiting while the writer is behind). Returns what the
/// attempt says of the endpoint's health. With traces on, the attempt is a
/// span of the publisher's trace, named by the request's `traceparent`
/// unless `config.propagate_trace` is off.
pub(super) async fn attempt(
    client: &Client,
    config: &DeliveryConfig,
    metrics: &Metrics,
    claim: Claimed,
    records: &mpsc::Sender<AttemptRecord>,
) -> Signal {
    let retry = &config.retry;
    let plain = || {
        tracing::info_span!(
            "delivery",
            webhook_id = %claim.webhook_id,
            event_id = %claim.event_id,
            delivery_id = %claim.id,
            attempt = claim.attempt,
            status = Empty,
            duration_ms = Empty,
            trace_id = Empty,
            span_id = Empty,
        )
    };
    let (span, sampled, trace) = if traces::enabled() {
        traced::start(&claim, config.propagate_trace, plain)
    } else {
        (plain(), false, None)
    };
    let sending = &*claim.sending;
    let signer = Signer::new(
        sending.signature_scheme,
        &sending.secret,
        &sending.previous_secrets,
    );
    let in_flight = metrics.attempt_started();
    let report = client
        .send(Request {
            url: sending.url.as_url(),
            event_id: claim.event_id,
            event_type: &claim.event_type,
            attempt: claim.attempt,
            body: &claim.body,
            headers: &sending.headers,
            identity: sending.client_identity.as_ref(),
            signer: &signer,
            webhook_id: claim.webhook_id,
            oauth2: sending.oauth2.as_ref(),
            trace: trace.as_ref(),
        })
        .instrument(span.clone())
        .await;
    drop(in_flight);
    let outcome = outcome(&report.outcome);
    metrics.attempt_finished(outcome, report.duration);
    if outcome == AttemptOutcome::Success {
        // From the event's commit to now, when the endpoint has it.
        let latency = (Utc::now() - claim.event_created_at).to_std();
        metrics.delivered(latency.unwrap_or_default());
    }
    let record = record(retry, &claim, report);
    span.record("duration_ms", record.duration.as_millis() as u64);
    if sampled {
        traced::finish(&span, &record, outcome);
    }
    match (&record.next, record.status_code, &record.error_kind) {
        (Next::Succeeded, Some(code), _) => {
            span.record("status", code);
            tracing::debug!(parent: &span, "delivered");
        }
        (next, code, kind) => {
            if let Some(code) = code {
                span.record("status", code);
            }
            tracing::info!(parent: &span, error_kind = ?kind, next = ?next, "attempt failed");
        }
    }
    let signal = signal(&record);
    // Waits while the writer is behind; fails only once it was abandoned.
    let _ = records.send(record).await;
    signal
}

/// How the metrics name what an attempt came to.
fn outcome(outcome: &Outcome) -> AttemptOutcome {
    match outcome {
        Outcome::Answered { status, .. } if (200..300).contains(status) => AttemptOutcome::Success,
        Outcome::Answered { .. } => AttemptOutcome::HttpError,
        Outcome::Failed { kind, .. } => match *kind {
            "timeout" => AttemptOutcome::Timeout,
            "connect" => AttemptOutcome::Connect,
            "blocked" => AttemptOutcome::Blocked,
            PROXY => AttemptOutcome::Proxy,
            super::oauth2::KIND => AttemptOutcome::OAuth2,
            _ => AttemptOutcome::Request,
        },
    }
}

/// Timeouts, connection failures, 5xx and 429 mean an endpoint struggles;
/// a failure of the egress proxy says nothing of it.
fn signal(record: &AttemptRecord) -> Signal {
    match (record.status_code, record.error_kind) {
        (Some(200..=299), _) => Signal::Success,
        (Some(429 | 500..=599), _) => Signal::Overloaded,
        (None, Some("timeout" | "connect")) => Signal::Overloaded,
        _ => Signal::Neutral,
    }
}

/// What `report` means for the delivery: the record to write.
fn record(retry: &RetryPolicy, claim: &Claimed, report: Report) -> AttemptRecord {
    let succeeded = report.succeeded();
    let (status_code, error_kind, error_message, excerpt, retry_after) = match report.outcome {
        Outcome::Answered {
            status,
            excerpt,
            retry_after,
        } => {
            let kind = (!succeeded).then_some("http_status");
            // Retry-After only means "later" on these two.
            let retry_after = retry_after.filter(|_| status == 429 || status == 503);
            (Some(status), kind, None, Some(excerpt), retry_after)
        }
        Outcome::Failed { kind, message } => (None, Some(kind), Some(message), None, None),
    };
    let own = claim.sending.retry_schedule.as_ref();
    let next = if succeeded {
        Next::Succeeded
    } else {
        // The egress proxy failing is ours to fix, not the endpoint's: the
        // delivery never ends failed for it, but keeps the last step's pace
        // once its schedule is spent (and a delivery ended FAILED would
        // start the endpoint's run of failures toward auto-disable).
        let delay = retry
            .next_delay(own, claim.attempt, retry_after)
            .or_else(|| (error_kind == Some(PROXY)).then(|| retry.last_step(own)));
        match delay {
            Some(delay) => Next::RetryAt(clock::after(Utc::now(), delay)),
            None => Next::Failed,
        }
    };
    AttemptRecord {
        delivery_id: claim.id,
        organization_id: claim.organization_id,
        webhook_id: claim.webhook_id,
        attempt: claim.attempt,
        started_at: report.started_at,
        duration: report.duration,
        status_code,
        error_kind,
        error_message,
        response_excerpt: excerpt,
        next,
        ordering_key: claim.ordering_key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> Outcome {
        Outcome::Answered {
            status,
            excerpt: String::new(),
            retry_after: None,
        }
    }

    fn failed(kind: &'static str) -> Outcome {
        Outcome::Failed {
            kind,
            message: "no".into(),
        }
    }

    #[test]
    fn each_outcome_of_the_client_has_its_metric_label() {
        assert_eq!(outcome(&answered(200)), AttemptOutcome::Success);
        assert_eq!(outcome(&answered(204)), AttemptOutcome::Success);
        assert_eq!(outcome(&answered(302)), AttemptOutcome::HttpError);
        assert_eq!(outcome(&answered(500)), AttemptOutcome::HttpError);
        assert_eq!(outcome(&failed("timeout")), AttemptOutcome::Timeout);
        assert_eq!(outcome(&failed("connect")), AttemptOutcome::Connect);
        assert_eq!(outcome(&failed("blocked")), AttemptOutcome::Blocked);
        assert_eq!(outcome(&failed("request")), AttemptOutcome::Request);
        assert_eq!(outcome(&failed("proxy")), AttemptOutcome::Proxy);
        assert_eq!(outcome(&failed("oauth2")), AttemptOutcome::OAuth2);
    }
}
