//! One webhook's last 24 hours: its deliveries counted by status, at most
//! [`WebhookStats::CAP`] of them, and its newest delivery. Both read the
//! `(webhook_id, id)` index from the newest id down: the window is an id
//! range (ids carry their creation time, see `domain::created_range`), and
//! the cap bounds how much of it is read, however busy the webhook.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

use super::entities::{delivery, webhook};
use super::history::to_domain;
use super::scoped::Scoped;
use super::{Store, StoreError};
use crate::domain::created_range::first_id_of;
use crate::domain::{DeliveryStatus, OrganizationId, WebhookId, WebhookStats};

impl Store {
    /// The stats of the organization's webhook `id` since `window_start`;
    /// `None` when it has no such webhook.
    pub async fn webhook_stats(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        window_start: DateTime<Utc>,
    ) -> Result<Option<WebhookStats>, StoreError> {
        let found = webhook::Entity::find_in(organization)
            .select_only()
            .column(webhook::Column::Id)
            .filter(webhook::Column::Id.eq(id.as_uuid()))
            .into_tuple::<uuid::Uuid>()
            .one(&self.db)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        let mut statuses = recent_statuses(id, window_start)
            .into_tuple::<String>()
            .all(&self.db)
            .await?;
        // One more than the cap was read when more lie in the window: the
        // oldest is left out, and the counts are the newest CAP's.
        let capped = statuses.len() as u64 > WebhookStats::CAP;
        statuses.truncate(WebhookStats::CAP as usize);
        let mut stats = WebhookStats {
            window_start,
            succeeded: 0,
            failed: 0,
            pending: 0,
            cancelled: 0,
            capped,
            last_delivery: None,
        };
        for status in statuses {
            match status.parse::<DeliveryStatus>() {
                Ok(DeliveryStatus::Succeeded) => stats.succeeded += 1,
                Ok(DeliveryStatus::Failed) => stats.failed += 1,
                Ok(DeliveryStatus::Pending) => stats.pending += 1,
                Ok(DeliveryStatus::Cancelled) => stats.cancelled += 1,
                Err(e) => tracing::warn!(webhook_id = %id, "a delivery with {e}"),
            }
        }
        stats.last_delivery = newest_delivery(id)
            .one(&self.db)
            .await?
            .map(|row| to_domain(row, Vec::new()))
            .transpose()?;
        Ok(Some(stats))
    }
}

/// The statement of the counts: the statuses of the webhook's deliveries
/// from the newest down to the window's first id, one more than the cap
/// at most (a few bytes each; counted here, exactly, in page order). Not
/// filtered by organization: the webhook was found in it, and its
/// deliveries are all of it (with the organization, PostgreSQL may prefer
/// the organization's index, a range of every webhook's).
pub(super) fn recent_statuses(
    webhook: WebhookId,
    window_start: DateTime<Utc>,
) -> Select<delivery::Entity> {
    delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Status)
        .filter(delivery::Column::WebhookId.eq(webhook.as_uuid()))
        .filter(delivery::Column::Id.gte(first_id_of(window_start.timestamp_millis())))
        .order_by_desc(delivery::Column::Id)
        .limit(WebhookStats::CAP + 1)
}

/// The statement of the newest delivery: the first of the webhook's index.
pub(super) fn newest_delivery(webhook: WebhookId) -> Select<delivery::Entity> {
    delivery::Entity::find()
        .filter(delivery::Column::WebhookId.eq(webhook.as_uuid()))
        .order_by_desc(delivery::Column::Id)
        .limit(1)
}
