//! One delivery attempt: send it, log it, and turn what came back into the
//! record the writer stores, with the next step from the retry policy.

use chrono::Utc;
use tokio::sync::mpsc;
use tracing::{Instrument, field::Empty};

use super::RetryPolicy;
use super::client::{Client, Outcome, Report, Request};
use super::scheduler::Signal;
use crate::domain::clock;
use crate::store::{AttemptRecord, Claimed, Next};

/// Makes one attempt of `claim`, logs it, and hands its result to the
/// writer (waiting while the writer is behind). Returns what the attempt
/// says of the endpoint's health.
pub(super) async fn attempt(
    client: &Client,
    retry: &RetryPolicy,
    claim: Claimed,
    records: &mpsc::Sender<AttemptRecord>,
) -> Signal {
    let span = tracing::info_span!(
        "delivery",
        webhook_id = %claim.webhook_id,
        event_id = %claim.event_id,
        delivery_id = %claim.id,
        attempt = claim.attempt,
        status = Empty,
        duration_ms = Empty,
    );
    let report = client
        .send(Request {
            url: claim.url.as_url(),
            event_id: claim.event_id,
            event_type: &claim.event_type,
            attempt: claim.attempt,
            body: &claim.body,
            secret: &claim.secret,
            previous_secrets: &claim.previous_secrets,
        })
        .instrument(span.clone())
        .await;
    let record = record(retry, &claim, report);
    span.record("duration_ms", record.duration.as_millis() as u64);
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

/// Timeouts, connection failures, 5xx and 429 mean an endpoint struggles.
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
    let next = if succeeded {
        Next::Succeeded
    } else {
        match retry.next_delay(claim.attempt, retry_after) {
            Some(delay) => Next::RetryAt(clock::after(Utc::now(), delay)),
            None => Next::Failed,
        }
    };
    AttemptRecord {
        delivery_id: claim.id,
        webhook_id: claim.webhook_id,
        attempt: claim.attempt,
        started_at: report.started_at,
        duration: report.duration,
        status_code,
        error_kind,
        error_message,
        response_excerpt: excerpt,
        next,
    }
}
