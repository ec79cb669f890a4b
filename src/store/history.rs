//! What happened to deliveries: listing, one delivery with its attempts, and
//! trying one again.

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use super::entities::{delivery, delivery_attempt, event, webhook};
use super::scoped::Scoped;
use super::webhooks::now;
use super::{Store, StoreError, sequences};
use crate::domain::labels::{self, Labels};
use crate::domain::{
    Attempt, CreatedRange, Delivery, DeliveryId, DeliveryStatus, EventId, EventType,
    OrganizationId, Page, WebhookId,
};

/// Which deliveries to list; `None` matches any.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub webhook: Option<WebhookId>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<EventType>,
    /// Only deliveries created in this range.
    pub created: CreatedRange,
}

/// What RetryDelivery did.
pub enum Retried {
    NoSuchDelivery,
    StillPending,
    WebhookDeleted,
    /// Boxed: a delivery with its attempts and body is large.
    Scheduled(Box<Delivery>),
}

impl Store {
    /// A page of the organization's deliveries, newest first, without
    /// attempts, and the id the next page reads below (`None`: the last
    /// page). A filter no index serves reads a window of at most
    /// [`WINDOW_PER_ROW`] deliveries per row the page may hold: the page
    /// may then be short, or empty, while more follow.
    pub async fn list_deliveries(
        &self,
        organization: OrganizationId,
        filter: DeliveryFilter,
        page: Page,
    ) -> Result<(Vec<Delivery>, Option<Uuid>), StoreError> {
        let window_end = if served_by_an_index(&filter) {
            None
        } else {
            window_end(organization, &filter, page)
                .into_tuple::<Uuid>()
                .one(&self.db)
                .await?
        };
        let mut rows = deliveries_page(organization, &filter, page, window_end)
            .all(&self.db)
            .await?;
        let next = if rows.len() as u64 > page.size {
            rows.truncate(page.size as usize);
            rows.last().map(|row| row.id)
        } else {
            // Whatever the window held is on this page; the next one reads
            // below it.
            window_end
        };
        let deliveries = rows
            .into_iter()
            .map(|row| to_domain(row, Vec::new()))
            .collect::<Result<_, _>>()?;
        Ok((deliveries, next))
    }

    /// One delivery with every attempt, oldest first.
    pub async fn get_delivery(
        &self,
        organization: OrganizationId,
        id: DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        let Some(row) = delivery_of(organization, id.as_uuid())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let attempts = attempts_of(row.id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| Attempt {
                number: a.attempt as u32,
                started_at: a.started_at,
                duration_ms: a.duration_ms.max(0) as u32,
                status_code: a.status_code.and_then(|c| u16::try_from(c).ok()),
                error_kind: a.error_kind,
                error_message: a.error_message,
                response_excerpt: a.response_excerpt,
            })
            .collect();
        let payload = event::Entity::find_in(organization)
            .select_only()
            .column(event::Column::Body)
            .filter(event::Column::Id.eq(row.event_id))
            .into_tuple::<String>()
            .one(&self.db)
            .await?;
        let mut delivery = to_domain(row, attempts)?;
        // Read from the body, where they are stored: what was sent is shown.
        if let Some(body) = &payload {
            delivery.labels = labels::in_body(body)
                .ok_or_else(|| anyhow!("delivery {id}: its event's body is not an event"))?;
        }
        delivery.payload = payload;
        Ok(Some(delivery))
    }

    /// Makes a finished delivery pending again, due now, keeping its event
    /// and attempt count.
    pub async fn retry_delivery(
        &self,
        organization: OrganizationId,
        id: DeliveryId,
    ) -> Result<Retried, StoreError> {
        let txn = self.write_transaction().await?;
        let Some(row) = delivery::Entity::find_in(organization)
            .filter(delivery::Column::Id.eq(id.as_uuid()))
            .one(&txn)
            .await?
        else {
            return Ok(Retried::NoSuchDelivery);
        };
        if row.status == DeliveryStatus::Pending.as_str() {
            return Ok(Retried::StillPending);
        }
        // Locked until commit, as publishing does: a DeleteWebhook racing
        // this waits, then cancels the delivery made pending here; a pause
        // or a resume waits, then marks or clears it.
        let Some(webhook) = webhook::Entity::find_in(organization)
            .filter(webhook::Column::Id.eq(row.webhook_id))
            .lock_shared()
            .one(&txn)
            .await?
        else {
            return Ok(Retried::WebhookDeleted);
        };
        let now = now();
        delivery::Entity::update_in(organization)
            .col_expr(
                delivery::Column::Status,
                Expr::value(DeliveryStatus::Pending.as_str()),
            )
            .col_expr(delivery::Column::NextAttemptAt, Expr::value(now))
            .col_expr(
                delivery::Column::LeaseUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            // A paused (or disabled) webhook's waits for it, out of the
            // claim path.
            .col_expr(delivery::Column::Paused, Expr::value(!webhook.enabled))
            // Out of line unless it goes to the back of its sequence below
            // (it may have ended behind, cancelled by a disabling).
            .col_expr(delivery::Column::Behind, Expr::value(false))
            .filter(delivery::Column::Id.eq(row.id))
            .filter(delivery::Column::Status.eq(row.status.as_str()))
            .exec(&txn)
            .await?;
        // An ordered webhook's delivery of a sequence goes to its back:
        // resent after what was published since.
        if let (Some(key), true) = (row.ordering_key, webhook.ordered) {
            sequences::requeue(&txn, webhook.id, &[(row.id, key)], now).await?;
        }
        txn.commit().await?;
        match self.get_delivery(organization, id).await? {
            Some(delivery) => Ok(Retried::Scheduled(Box::new(delivery))),
            None => Ok(Retried::NoSuchDelivery),
        }
    }
}

/// How many deliveries a page filtered beyond an index reads at most, per
/// row the page may hold: a page costs at most this many pages, however
/// rare its matches (the default page of 50 reads 1,000).
pub const WINDOW_PER_ROW: u64 = 20;

/// The statuses `deliveries_organization_status` holds (migration 25), in
/// the words a statement must hold for SQLite to read that partial index
/// (and PostgreSQL, under a generic plan that knows no status).
const NOT_SUCCEEDED: &str = "status <> 'succeeded'";

/// Whether one index gives exactly the deliveries `filter` keeps, in page
/// order: the organization's (no filter), the webhook's (its filter alone)
/// or those not succeeded by status (a status filter alone). A range of
/// creation times narrows any of them (by id, which each ends in).
pub(super) fn served_by_an_index(filter: &DeliveryFilter) -> bool {
    match (filter.webhook, filter.status, &filter.event_type) {
        (_, None, None) => true,
        (None, Some(status), None) => status != DeliveryStatus::Succeeded,
        _ => false,
    }
}

/// The deliveries of `organization` (or of the filter's webhook) in the
/// filter's range and below the page's cursor, newest first: the index a
/// window is read from.
fn newest(
    organization: OrganizationId,
    filter: &DeliveryFilter,
    page: Page,
) -> Select<delivery::Entity> {
    let mut query = delivery::Entity::find_in(organization);
    if let Some(webhook) = filter.webhook {
        query = query.filter(delivery::Column::WebhookId.eq(webhook.as_uuid()));
    }
    // The range as ids, which each index ends in: the index range read
    // shrinks to the range. `created_at` is filtered too, on the rows read
    // anyway: exact whatever the id holds (see `CreatedRange::id_bounds`).
    let (lowest, below) = filter.created.id_bounds();
    if let Some(lowest) = lowest {
        query = query.filter(delivery::Column::Id.gte(lowest));
    }
    let below = match (below, page.after) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(below) = below {
        query = query.filter(delivery::Column::Id.lt(below));
    }
    query.order_by_desc(delivery::Column::Id)
}

/// For a filter no index serves (see [`served_by_an_index`]): the id of
/// the last delivery of the page's window, the `WINDOW_PER_ROW * size`-th
/// newest the page may read; none when fewer are left.
pub(super) fn window_end(
    organization: OrganizationId,
    filter: &DeliveryFilter,
    page: Page,
) -> Select<delivery::Entity> {
    newest(organization, filter, page)
        .select_only()
        .column(delivery::Column::Id)
        .offset(WINDOW_PER_ROW * page.size - 1)
        .limit(1)
}

/// The statement of [`Store::list_deliveries`]: the organization's
/// deliveries that `filter` keeps, newest first, down to `window_end` when
/// the page reads a window, one more than `page` holds (to tell whether
/// more follow).
pub(super) fn deliveries_page(
    organization: OrganizationId,
    filter: &DeliveryFilter,
    page: Page,
    window_end: Option<Uuid>,
) -> Select<delivery::Entity> {
    let mut query = newest(organization, filter, page);
    if let Some(status) = filter.status {
        query = query.filter(delivery::Column::Status.eq(status.as_str()));
        if served_by_an_index(filter) {
            query = query.filter(Expr::cust(NOT_SUCCEEDED));
        }
    }
    if let Some(event_type) = &filter.event_type {
        // The copy on the delivery, not a look in `events` (see migration
        // 10); within the window, whatever index reads it.
        query = query.filter(delivery::Column::EventType.eq(event_type.as_str()));
    }
    if let Some(end) = window_end {
        query = query.filter(delivery::Column::Id.gte(end));
    }
    if let Some(from) = filter.created.from {
        query = query.filter(delivery::Column::CreatedAt.gte(from));
    }
    if let Some(before) = filter.created.before {
        query = query.filter(delivery::Column::CreatedAt.lt(before));
    }
    query.limit(page.size + 1)
}

pub(super) fn to_domain(
    row: delivery::Model,
    attempts: Vec<Attempt>,
) -> Result<Delivery, StoreError> {
    let status = row
        .status
        .parse::<DeliveryStatus>()
        .map_err(|e| anyhow!("delivery {}: {e}", row.id))?;
    Ok(Delivery {
        id: DeliveryId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        webhook_id: WebhookId::from_uuid(row.webhook_id),
        event_id: EventId::from_uuid(row.event_id),
        event_type: row.event_type,
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(row.next_attempt_at),
        status,
        attempt_count: row.attempts.max(0) as u32,
        last_error: row.last_error,
        created_at: row.created_at,
        updated_at: row.updated_at,
        attempts,
        payload: None,
        labels: Labels::new(),
    })
}

/// The attempts of delivery `id`, oldest first (GetDelivery).
pub(super) fn attempts_of(id: Uuid) -> Select<delivery_attempt::Entity> {
    delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.eq(id))
        .order_by_asc(delivery_attempt::Column::Attempt)
}

/// Delivery `id` of `organization`, by its key (GetDelivery).
pub(super) fn delivery_of(organization: OrganizationId, id: Uuid) -> Select<delivery::Entity> {
    delivery::Entity::find_in(organization).filter(delivery::Column::Id.eq(id))
}
