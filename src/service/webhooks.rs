//! Registering and managing webhooks.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Listing, Publisher, ServiceError, authorized, parse_field};
use crate::domain::access::authorize;
use crate::domain::{
    Action, Caller, DeliveryId, Event, EventId, EventType, NewEvent, NewWebhook, OrganizationId,
    Page, SigningSecret, UpdateFields, Webhook, WebhookChanges, WebhookId,
};
use crate::store::{StoreError, TestDelivery};

const NOT_FOUND: &str = "no such webhook in this organization";
const KIND: &str = "webhooks";

/// A caller's request to register a webhook, not yet validated.
#[derive(Debug, Clone)]
pub struct CreateWebhook {
    pub organization_id: String,
    pub url: String,
    pub events: Vec<String>,
}

/// Names one webhook, not yet validated.
#[derive(Debug, Clone)]
pub struct WebhookRef {
    pub organization_id: String,
    pub webhook_id: String,
}

/// Asks for a page of webhooks, not yet validated.
#[derive(Debug, Clone)]
pub struct ListWebhooks {
    pub organization_id: String,
    pub page_size: i32,
    pub page_token: String,
}

/// Asks to change the fields named in `mask`, not yet validated.
#[derive(Debug, Clone)]
pub struct UpdateWebhook {
    pub webhook: WebhookRef,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: String,
    pub mask: Vec<String>,
}

/// The webhook use cases.
#[derive(Clone)]
pub struct Webhooks {
    publisher: Publisher,
    allow_private_targets: bool,
    secret_grace: Duration,
}

impl Webhooks {
    pub fn new(publisher: Publisher, allow_private_targets: bool, secret_grace: Duration) -> Self {
        Self {
            publisher,
            allow_private_targets,
            secret_grace,
        }
    }

    /// The caller's organization and the webhook id, once both check out.
    fn resolve(
        caller: &Caller,
        action: Action,
        webhook: &WebhookRef,
    ) -> Result<(OrganizationId, WebhookId), ServiceError> {
        let organization = authorized(caller, action, &webhook.organization_id)?;
        let id = parse_field("webhook_id", WebhookId::parse(&webhook.webhook_id))?;
        Ok((organization, id))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        request: ListWebhooks,
    ) -> Result<Listing<Webhook>, ServiceError> {
        let organization = authorized(caller, Action::ListWebhooks, &request.organization_id)?;
        let page = Page::parse(KIND, request.page_size, &request.page_token)?;
        let (webhooks, more) = self
            .publisher
            .store()
            .list_webhooks(organization, page)
            .await?;
        let next = webhooks
            .last()
            .filter(|_| more)
            .map(|w| Page::token(KIND, w.id.as_uuid()));
        Ok((webhooks, next))
    }

    pub async fn get(&self, caller: &Caller, request: WebhookRef) -> Result<Webhook, ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::GetWebhook, &request)?;
        self.publisher
            .store()
            .get_webhook(organization, id)
            .await?
            .ok_or(ServiceError::NotFound(NOT_FOUND))
    }

    pub async fn update(
        &self,
        caller: &Caller,
        request: UpdateWebhook,
    ) -> Result<Webhook, ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::UpdateWebhook, &request.webhook)?;
        let changes = WebhookChanges::parse(
            &request.mask,
            UpdateFields {
                url: &request.url,
                events: &request.events,
                enabled: request.enabled,
                description: &request.description,
            },
            self.allow_private_targets,
        )?;
        let updated = self
            .publisher
            .store()
            .update_webhook(organization, id, &changes)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists => ServiceError::AlreadyExists(
                    "this organization already has a webhook with this URL",
                ),
                other => other.into(),
            })?
            .ok_or(ServiceError::NotFound(NOT_FOUND))?;
        if changes.enabled == Some(true) {
            // Its waiting deliveries are due now.
            self.publisher.wake();
        }
        tracing::info!(webhook_id = %id, %organization, by = %caller.subject, ?request.mask, "webhook updated");
        Ok(updated)
    }

    pub async fn delete(&self, caller: &Caller, request: WebhookRef) -> Result<(), ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::DeleteWebhook, &request)?;
        if !self
            .publisher
            .store()
            .delete_webhook(organization, id)
            .await?
        {
            return Err(ServiceError::NotFound(NOT_FOUND));
        }
        tracing::info!(webhook_id = %id, %organization, by = %caller.subject, "webhook deleted");
        Ok(())
    }

    /// A new secret, returned only here, and when the previous one stops
    /// signing deliveries.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        request: WebhookRef,
    ) -> Result<(Webhook, SigningSecret, DateTime<Utc>), ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::RotateWebhookSecret, &request)?;
        let secret = SigningSecret::generate();
        let (webhook, expires) = self
            .publisher
            .store()
            .rotate_secret(organization, id, &secret, self.secret_grace)
            .await?
            .ok_or(ServiceError::NotFound(NOT_FOUND))?;
        tracing::info!(webhook_id = %id, %organization, by = %caller.subject, previous_secret_until = %expires, "webhook secret rotated");
        Ok((webhook, secret, expires))
    }

    /// Sends `webhook.ping` to the webhook; returns the event and delivery ids.
    pub async fn send_test_event(
        &self,
        caller: &Caller,
        request: WebhookRef,
    ) -> Result<(EventId, DeliveryId), ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::SendTestEvent, &request)?;
        let ping = NewEvent {
            event: Event::new(
                organization,
                EventType::WebhookPing,
                serde_json::json!({ "webhook_id": id.to_string() }),
            ),
            idempotency_key: None,
        };
        match self.publisher.store().send_test_event(id, &ping).await? {
            TestDelivery::NoSuchWebhook => Err(ServiceError::NotFound(NOT_FOUND)),
            TestDelivery::Disabled => Err(ServiceError::FailedPrecondition(
                "the webhook is disabled; enable it first",
            )),
            TestDelivery::Scheduled {
                event,
                delivery,
                handed_off,
            } => {
                self.publisher.hand_off(handed_off);
                Ok((event, delivery))
            }
        }
    }

    /// Registers a webhook, publishes `webhook.created` in the same
    /// transaction, and returns the webhook with its new secret, which nothing
    /// else will ever return again.
    pub async fn create(
        &self,
        caller: &Caller,
        request: CreateWebhook,
    ) -> Result<(Webhook, SigningSecret), ServiceError> {
        // Authorize before looking at the rest, so a caller without rights
        // learns nothing from validation.
        if let Ok(organization) = OrganizationId::parse(&request.organization_id) {
            authorize(caller, Action::CreateWebhook, organization)?;
        }
        let new = NewWebhook::parse(
            &request.organization_id,
            &request.url,
            &request.events,
            self.allow_private_targets,
        )?;
        let secret = SigningSecret::generate();
        let (webhook, mut published) = self
            .publisher
            .store()
            .create_webhook(&new, &secret, &caller.subject, announcement)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists => ServiceError::AlreadyExists(
                    "this organization already has a webhook with this URL",
                ),
                other => other.into(),
            })?;
        self.publisher.announce(&mut published);
        tracing::info!(
            webhook_id = %webhook.id,
            organization_id = %webhook.organization_id,
            url = %webhook.url.as_str(),
            created_by = %webhook.created_by,
            "webhook created"
        );
        Ok((webhook, secret))
    }
}

/// The `webhook.created` event: what was registered, never the secret.
fn announcement(webhook: &Webhook) -> NewEvent {
    let data = serde_json::json!({
        "id": webhook.id.to_string(),
        "url": webhook.url.as_str(),
        "events": webhook.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "created_at": webhook.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    NewEvent {
        event: Event::new(webhook.organization_id, EventType::WebhookCreated, data),
        idempotency_key: None,
    }
}
