//! The state of one event's delivery to one webhook.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::labels::Labels;
use super::{DeliveryId, EventId, OrganizationId, WebhookId};

/// One event's delivery to one webhook, as its history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub organization_id: OrganizationId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// When the next attempt is due; only while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first; empty in listings.
    pub attempts: Vec<Attempt>,
    /// The request body sent to the endpoint, exactly as signed; `None` in
    /// listings.
    pub payload: Option<String>,
    /// The event's labels, read from `payload`; empty in listings.
    pub labels: Labels,
}

/// How one webhook's deliveries created since `window_start` stand, of
/// the newest [`WebhookStats::CAP`] at most, and its newest delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStats {
    pub window_start: DateTime<Utc>,
    pub succeeded: u32,
    pub failed: u32,
    pub pending: u32,
    pub cancelled: u32,
    /// More than `CAP` deliveries were created in the window: the counts
    /// are the newest `CAP`'s.
    pub capped: bool,
    pub last_delivery: Option<Delivery>,
}

impl WebhookStats {
    /// The most deliveries counted: a busy webhook costs a bounded read
    /// (an index range of this many rows), not its whole day.
    pub const CAP: u64 = 10_000;
    /// How far back the counts reach.
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u32,
    /// The answer's HTTP status, when one came.
    pub status_code: Option<u16>,
    /// `http_status`, `timeout`, `connect`, `blocked` or `request`.
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    /// The first 4 KiB of the answer.
    pub response_excerpt: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or in flight).
    Pending,
    /// An attempt got a 2xx answer.
    Succeeded,
    /// Every attempt of the retry schedule failed; no more are made.
    Failed,
    /// Its webhook was deleted before it succeeded.
    Cancelled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "succeeded" => Ok(DeliveryStatus::Succeeded),
            "failed" => Ok(DeliveryStatus::Failed),
            "cancelled" => Ok(DeliveryStatus::Cancelled),
            other => Err(format!("unknown delivery status {other:?}")),
        }
    }
}
