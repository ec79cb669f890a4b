//! An attempt as an OpenTelemetry client span (docs/tracing.md), made only
//! when traces are on and its trace sampled: a child of the span that
//! published the event (its stored trace context), so that every attempt,
//! retries and attempts made after a restart or by another process
//! included, joins the publisher's trace; and the `traceparent` the request
//! carries names it. An unsampled attempt still sends a `traceparent`, with
//! ids of its own.

use tracing::Span;
use tracing::field::Empty;
use url::Url;

use crate::domain::TraceContext;
use crate::metrics::AttemptOutcome;
use crate::store::{AttemptRecord, Claimed};
use crate::telemetry::context;
use crate::telemetry::traces::{self, Decision};

/// What a query's values are replaced with in `url.full`: receivers put
/// tokens there.
const REDACTED: &str = "REDACTED";

/// The attempt's span, continuing the publisher's trace; whether it is
/// sampled; and the trace context the request carries (`None` when
/// `propagate` is off). An unsampled attempt gets the log's span, `plain`,
/// with its ids in its fields. Call only when traces are on.
pub(super) fn start(
    claim: &Claimed,
    propagate: bool,
    plain: impl FnOnce() -> Span,
) -> (Span, bool, Option<TraceContext>) {
    let parent = claim
        .trace
        .as_ref()
        .map(context::parent)
        .unwrap_or_default();
    let (span, ids) = match traces::decide(&parent) {
        Decision::Unsampled(ids) => {
            let span = plain();
            traces::log_ids(&span, &ids);
            (span, Some(ids))
        }
        Decision::Sampled => {
            let span = sampled(claim, parent);
            let ids = traces::record_ids(&span);
            (span, ids)
        }
    };
    let sampled = ids.as_ref().is_some_and(|ids| ids.is_sampled());
    let carried = ids.as_ref().filter(|_| propagate).map(context::of);
    (span, sampled, carried)
}

/// A sampled attempt's span, a child of `parent`. The fields are the log's
/// context too; the HTTP attributes go to the span only.
fn sampled(claim: &Claimed, parent: opentelemetry::Context) -> Span {
    let span = tracing::info_span!(
        "delivery",
        otel.name = "POST",
        otel.kind = "client",
        trace_id = Empty,
        span_id = Empty,
        webhook_id = %claim.webhook_id,
        event_id = %claim.event_id,
        delivery_id = %claim.id,
        attempt = claim.attempt,
        status = Empty,
        duration_ms = Empty,
    );
    context::continue_from(&span, parent);
    let url = claim.sending.url.as_url();
    traces::set_attribute(&span, "http.request.method", "POST");
    traces::set_attribute(&span, "url.full", shown(url));
    traces::set_attribute(
        &span,
        "server.address",
        url.host_str().unwrap_or_default().to_owned(),
    );
    traces::set_attribute(
        &span,
        "server.port",
        i64::from(url.port_or_known_default().unwrap_or_default()),
    );
    span
}

/// Records what the attempt came to on its span (a sampled one).
pub(super) fn finish(span: &Span, record: &AttemptRecord, outcome: AttemptOutcome) {
    traces::set_attribute(span, "outcome", outcome.as_str());
    if let Some(code) = record.status_code {
        traces::set_attribute(span, "http.response.status_code", i64::from(code));
    }
    if outcome != AttemptOutcome::Success {
        // HTTP's semantic conventions: the status code, else the failure.
        let kind = match (record.status_code, record.error_kind) {
            (Some(code), _) => code.to_string(),
            (None, Some(kind)) => kind.to_owned(),
            (None, None) => outcome.as_str().to_owned(),
        };
        traces::set_error(span, format!("attempt failed: {kind}"));
        traces::set_attribute(span, "error.type", kind);
    }
}

/// `url` as `url.full` shows it: no user or password, no fragment, and
/// each query value replaced (the names stay, for debugging).
fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    if url.query().is_some() {
        let names: Vec<String> = url
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        shown
            .query_pairs_mut()
            .clear()
            .extend_pairs(names.iter().map(|name| (name.as_str(), REDACTED)));
    }
    shown.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_full_keeps_the_query_names_but_never_their_values() {
        let url =
            Url::parse("https://hooks.example.com:8443/in?token=s3cret&tenant=acme#top").unwrap();
        assert_eq!(
            shown(&url),
            "https://hooks.example.com:8443/in?token=REDACTED&tenant=REDACTED"
        );
        let plain = Url::parse("https://hooks.example.com/in").unwrap();
        assert_eq!(shown(&plain), "https://hooks.example.com/in");
    }
}
