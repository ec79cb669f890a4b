//! Registering webhooks.

use chrono::SecondsFormat;

use super::{Publisher, ServiceError};
use crate::domain::access::authorize;
use crate::domain::{
    Action, Caller, Event, EventType, NewEvent, NewWebhook, OrganizationId, SigningSecret, Webhook,
};
use crate::store::StoreError;

/// A caller's request to register a webhook, not yet validated.
#[derive(Debug, Clone)]
pub struct CreateWebhook {
    pub organization_id: String,
    pub url: String,
    pub events: Vec<String>,
}

/// The webhook use cases.
#[derive(Clone)]
pub struct Webhooks {
    publisher: Publisher,
    allow_private_targets: bool,
}

impl Webhooks {
    pub fn new(publisher: Publisher, allow_private_targets: bool) -> Self {
        Self {
            publisher,
            allow_private_targets,
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
        let (webhook, published) = self
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
        self.publisher.announce(&published);
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
