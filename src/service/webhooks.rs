//! Registering webhooks.

use super::ServiceError;
use crate::domain::access::authorize;
use crate::domain::{Action, Caller, NewWebhook, OrganizationId, SigningSecret, Webhook};
use crate::store::{Store, StoreError};

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
    store: Store,
    allow_private_targets: bool,
}

impl Webhooks {
    pub fn new(store: Store, allow_private_targets: bool) -> Self {
        Self {
            store,
            allow_private_targets,
        }
    }

    /// Registers a webhook and returns it with its new secret, which nothing
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
        let webhook = self
            .store
            .insert_webhook(&new, &secret, &caller.subject)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists => ServiceError::AlreadyExists(
                    "this organization already has a webhook with this URL",
                ),
                other => other.into(),
            })?;
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
