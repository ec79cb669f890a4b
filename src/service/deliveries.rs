//! Delivery history: what was sent, what the endpoint answered, and trying
//! again.

use super::{Listing, ServiceError, authorized, parse_field, to_completion};
use chrono::{DateTime, Utc};

use crate::domain::{
    Action, Caller, CreatedRange, Delivery, DeliveryId, DeliveryStatus, EventType, Page, WebhookId,
    WebhookStats, clock,
};
use crate::store::{DeliveryFilter, Retried};

use super::WebhookRef;

use super::Publisher;

const NOT_FOUND: &str = "no such delivery in this organization";
const NO_WEBHOOK: &str = "no such webhook in this organization";
const KIND: &str = "deliveries";

/// Names one delivery, not yet validated.
#[derive(Debug, Clone)]
pub struct DeliveryRef {
    pub organization_id: String,
    pub delivery_id: String,
}

/// A status to list deliveries by, as the caller gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Any,
    Is(DeliveryStatus),
    /// A value the API does not define, reported after authorization.
    Unknown(i32),
}

/// Asks for a page of deliveries; empty strings and `StatusFilter::Any`
/// match any.
#[derive(Debug, Clone)]
pub struct ListDeliveries {
    pub organization_id: String,
    pub webhook_id: String,
    pub status: StatusFilter,
    pub event_type: String,
    pub page_size: i32,
    pub page_token: String,
    /// The range's bounds, when given; `Err` says why one is no valid time.
    pub created_at_or_after: Option<Result<DateTime<Utc>, String>>,
    pub created_before: Option<Result<DateTime<Utc>, String>>,
}

/// The delivery history use cases.
#[derive(Clone)]
pub struct Deliveries {
    publisher: Publisher,
}

impl Deliveries {
    pub fn new(publisher: Publisher) -> Self {
        Self { publisher }
    }

    pub async fn list(
        &self,
        caller: &Caller,
        request: ListDeliveries,
    ) -> Result<Listing<Delivery>, ServiceError> {
        let organization = authorized(caller, Action::ListDeliveries, &request.organization_id)?;
        let webhook = match request.webhook_id.as_str() {
            "" => None,
            id => Some(parse_field("webhook_id", WebhookId::parse(id))?),
        };
        let event_type = match request.event_type.as_str() {
            "" => None,
            name => Some(parse_field("event_type", parse_listed_type(name))?),
        };
        let status = match request.status {
            StatusFilter::Any => None,
            StatusFilter::Is(status) => Some(status),
            StatusFilter::Unknown(n) => {
                parse_field("status", Err(format!("{n} is not a delivery status")))?
            }
        };
        let created = CreatedRange::parse(request.created_at_or_after, request.created_before)?;
        let kind = created.token_kind(KIND);
        let page = Page::parse(&kind, request.page_size, &request.page_token)?;
        let filter = DeliveryFilter {
            webhook,
            status,
            event_type,
            created,
        };
        let (deliveries, next) = self
            .publisher
            .store()
            .list_deliveries(organization, filter, page)
            .await?;
        let next = next.map(|below| Page::token(&kind, below));
        Ok((deliveries, next))
    }

    /// The webhook's last 24 hours: its deliveries by status (the newest
    /// `WebhookStats::CAP` at most) and its newest delivery.
    pub async fn webhook_stats(
        &self,
        caller: &Caller,
        request: WebhookRef,
    ) -> Result<WebhookStats, ServiceError> {
        let organization = authorized(caller, Action::GetWebhookStats, &request.organization_id)?;
        let id = parse_field("webhook_id", WebhookId::parse(&request.webhook_id))?;
        let window_start = clock::before(Utc::now(), WebhookStats::WINDOW);
        self.publisher
            .store()
            .webhook_stats(organization, id, window_start)
            .await?
            .ok_or(ServiceError::NotFound(NO_WEBHOOK))
    }

    pub async fn get(
        &self,
        caller: &Caller,
        request: DeliveryRef,
    ) -> Result<Delivery, ServiceError> {
        let organization = authorized(caller, Action::GetDelivery, &request.organization_id)?;
        let id = parse_field("delivery_id", DeliveryId::parse(&request.delivery_id))?;
        self.publisher
            .store()
            .get_delivery(organization, id)
            .await?
            .ok_or(ServiceError::NotFound(NOT_FOUND))
    }

    /// Schedules one more attempt now, same event id and body.
    pub async fn retry(
        &self,
        caller: &Caller,
        request: DeliveryRef,
    ) -> Result<Delivery, ServiceError> {
        let organization = authorized(caller, Action::RetryDelivery, &request.organization_id)?;
        let id = parse_field("delivery_id", DeliveryId::parse(&request.delivery_id))?;
        let publisher = self.publisher.clone();
        let retried = to_completion(async move {
            let retried = publisher.store().retry_delivery(organization, id).await?;
            if matches!(retried, Retried::Scheduled(_)) {
                publisher.wake();
            }
            Ok(retried)
        });
        match retried.await? {
            Retried::NoSuchDelivery => Err(ServiceError::NotFound(NOT_FOUND)),
            Retried::StillPending => Err(ServiceError::FailedPrecondition(
                "the delivery is still pending; it will be attempted on its schedule".into(),
            )),
            Retried::WebhookDeleted => Err(ServiceError::FailedPrecondition(
                "the delivery's webhook was deleted".into(),
            )),
            Retried::Scheduled(delivery) => {
                tracing::info!(delivery_id = %id, %organization, by = %caller.subject, "delivery retried");
                Ok(*delivery)
            }
        }
    }
}

/// Any name of the right shape: an archived type's deliveries, and the
/// test deliveries of `webhook.ping`, are listed too. A type never
/// published lists nothing.
fn parse_listed_type(name: &str) -> Result<EventType, String> {
    EventType::parse(name).map_err(|e| e.to_string())
}
