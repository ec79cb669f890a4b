//! proto <-> domain conversions.

use chrono::{DateTime, Utc};

use super::proto;
use crate::domain::Webhook;
use crate::service::CreateWebhook;

impl From<proto::CreateWebhookRequest> for CreateWebhook {
    fn from(r: proto::CreateWebhookRequest) -> Self {
        Self {
            organization_id: r.organization_id,
            url: r.url,
            events: r.events,
        }
    }
}

impl From<Webhook> for proto::Webhook {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id.to_string(),
            organization_id: w.organization_id.to_string(),
            url: w.url.as_str().to_owned(),
            events: w.events.iter().map(|e| e.as_str().to_owned()).collect(),
            created_at: Some(timestamp(w.created_at)),
        }
    }
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}
