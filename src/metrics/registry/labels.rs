//! The values labels and buckets take: fixed before the first series is
//! created.

use crate::domain::DeliveryStatus;

/// Prometheus' default buckets, which go-grpc-prometheus uses for
/// `grpc_server_handling_seconds`.
pub(super) const RPC_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// One attempt: up to WEBHOOK_TIMEOUT (10 s by default), with room for more.
pub(super) const ATTEMPT_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// From an event's commit to its delivery: milliseconds when all goes
/// well, minutes through retries, days after a recovery.
pub(super) const LATENCY_BUCKETS: [f64; 18] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, 21600.0, 86400.0,
];

/// gRPC status codes by number, named as grpc-go's `codes.Code.String()`
/// names them (and so go-grpc-prometheus' `grpc_code`).
pub(super) const GRPC_CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// What one delivery attempt came to: `webhook_delivery_attempts_total`'s
/// `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    Success,
    /// The endpoint answered another status.
    HttpError,
    /// No answer within WEBHOOK_TIMEOUT.
    Timeout,
    /// No connection: refused, unreachable, DNS or TLS failure.
    Connect,
    /// The SSRF guard refused the address.
    Blocked,
    /// Connected, but the exchange failed (the connection broke, the
    /// answer was not HTTP).
    Request,
    /// The egress proxy failed (WEBHOOK_EGRESS_PROXY): not the endpoint's
    /// fault.
    Proxy,
    /// No OAuth2 token could be had: the endpoint was not called.
    OAuth2,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 8] = [
        AttemptOutcome::Success,
        AttemptOutcome::HttpError,
        AttemptOutcome::Timeout,
        AttemptOutcome::Connect,
        AttemptOutcome::Blocked,
        AttemptOutcome::Request,
        AttemptOutcome::Proxy,
        AttemptOutcome::OAuth2,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Success => "success",
            AttemptOutcome::HttpError => "http_error",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::Connect => "connect",
            AttemptOutcome::Blocked => "blocked",
            AttemptOutcome::Request => "request",
            AttemptOutcome::Proxy => "proxy",
            AttemptOutcome::OAuth2 => "oauth2",
        }
    }
}

/// The final statuses, in the order of `Families::finished`.
pub(super) const FINISHED: [DeliveryStatus; 3] = [
    DeliveryStatus::Succeeded,
    DeliveryStatus::Failed,
    DeliveryStatus::Cancelled,
];
