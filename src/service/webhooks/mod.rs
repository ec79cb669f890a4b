//! Registering and managing webhooks.

mod create;
mod filter_test;
mod oauth2;

use create::{Registrations, events_violation};
pub use filter_test::{FilterVerdict, TestWebhookFilter};

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::group_commit::{GroupCommit, Grouped};
use super::{Listing, Publisher, ServiceError, authorized, parse_field, to_completion};
use crate::domain::OAuth2Fields;
use crate::domain::access::authorize_early;
use crate::domain::clock;
use crate::domain::headers::HeaderInput;
use crate::domain::{
    Action, Caller, ClientCertificateInput, DeliveryId, DeliveryStatus, Event, EventId, EventType,
    NewEvent, NewWebhook, Ordering, OrderingKey, OrganizationId, Page, SignatureScheme,
    SigningSecret, UpdateFields, Violations, Webhook, WebhookChanges, WebhookId,
};
use crate::store::{Created, Recovered, Registration, StoreError, TestDelivery};
use crate::telemetry;

const NOT_FOUND: &str = "no such webhook in this organization";
const KIND: &str = "webhooks";
const URL_TAKEN: &str = "this organization already has a webhook with this URL";

/// A caller's request to register a webhook, not yet validated.
#[derive(Debug, Clone)]
pub struct CreateWebhook {
    pub organization_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    /// 0 for no limit.
    pub rate_limit_per_second: u32,
    /// Empty for none.
    pub filter: String,
    /// `Err`: a value the wire carried that is no ordering.
    pub ordering: Result<Ordering, i32>,
    /// (seconds, nanos) per step; empty for the service's default.
    pub retry_schedule: Vec<(i64, i32)>,
    /// Sent with every attempt; values are secrets (`Debug` hides them).
    pub headers: Vec<HeaderInput>,
    /// Presented to the endpoint in TLS; `None` for none.
    pub client_certificate: Option<ClientCertificateInput>,
    /// `Err`: a value the wire carried that is no scheme.
    pub signature_scheme: Result<SignatureScheme, i32>,
    /// `None`: no OAuth2 client credentials.
    pub oauth2: Option<OAuth2Fields>,
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
    pub rate_limit_per_second: u32,
    pub filter: String,
    /// `Err`: a value the wire carried that is no ordering.
    pub ordering: Result<Ordering, i32>,
    /// (seconds, nanos) per step; empty for the service's default.
    pub retry_schedule: Vec<(i64, i32)>,
    /// Empty values keep the stored ones; `Debug` hides the values.
    pub headers: Vec<HeaderInput>,
    /// Presented to the endpoint in TLS; `None` for none.
    pub client_certificate: Option<ClientCertificateInput>,
    /// `None`: none given (removes them, if the mask names `oauth2`).
    pub oauth2: Option<OAuth2Fields>,
    pub mask: Vec<String>,
}

/// Asks to send again what a webhook missed, not yet validated.
#[derive(Debug, Clone)]
pub struct RecoverWebhook {
    pub webhook: WebhookRef,
    /// Only deliveries of events newer than this; `Err` says why the
    /// request holds no valid time.
    pub since: Result<DateTime<Utc>, String>,
}

/// How webhooks may be registered.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRules {
    /// Allow loopback and private targets (development and tests).
    pub allow_private_targets: bool,
    /// After a rotation, how long the previous secret keeps signing.
    pub secret_grace: Duration,
    /// The most webhooks one organization may have.
    pub max_per_organization: u64,
}

/// The webhook use cases.
#[derive(Clone)]
pub struct Webhooks {
    publisher: Publisher,
    rules: WebhookRules,
    registrations: GroupCommit<Registrations>,
}

impl Webhooks {
    /// Starts the task that stores new webhooks; call inside a Tokio runtime.
    pub fn new(publisher: Publisher, rules: WebhookRules) -> Self {
        let registrations = Registrations {
            publisher: publisher.clone(),
            limit: rules.max_per_organization,
        };
        Self {
            publisher,
            rules,
            registrations: GroupCommit::start(registrations, "webhook registry"),
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
        let named = |path: &str| request.mask.iter().any(|p| p == path);
        // Archived types it subscribes to may stay, and empty header values
        // keep what it holds: both are checked against it as it is now.
        let current = if named("events") || named("headers") {
            let current = self.publisher.store().get_webhook(organization, id).await?;
            Some(current.ok_or(ServiceError::NotFound(NOT_FOUND))?)
        } else {
            None
        };
        let changes = WebhookChanges::parse(
            &request.mask,
            UpdateFields {
                url: &request.url,
                events: &request.events,
                enabled: request.enabled,
                description: &request.description,
                rate_limit_per_second: request.rate_limit_per_second,
                filter: &request.filter,
                ordering: request.ordering,
                retry_schedule: &request.retry_schedule,
                headers: &request.headers,
                current_headers: current.as_ref().map_or(&[], |c| &c.headers),
                client_certificate: request.client_certificate.as_ref(),
                oauth2: request.oauth2.as_ref(),
            },
            self.rules.allow_private_targets,
        )?;
        self.check_kept_secret(organization, id, &changes).await?;
        if let (Some(events), Some(current)) = (&changes.events, &current)
            && let Some(refused) = self.not_subscribable(events, &current.events).await?
        {
            return Err(events_violation(refused));
        }
        let this = self.clone();
        let updated =
            to_completion(async move { this.store_update(organization, id, changes).await });
        let updated = updated.await?;
        tracing::info!(webhook_id = %id, %organization, by = %caller.subject, ?request.mask, "webhook updated");
        Ok(updated)
    }

    async fn store_update(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        changes: WebhookChanges,
    ) -> Result<Webhook, ServiceError> {
        let updated = self
            .publisher
            .store()
            .update_webhook(organization, id, &changes)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists => ServiceError::AlreadyExists(URL_TAKEN),
                other => other.into(),
            })?
            .ok_or(ServiceError::NotFound(NOT_FOUND))?;
        // Deliveries held with its old URL, or while it was enabled, are
        // read again; once resumed, its waiting deliveries are due now.
        if changes.changes_sending() {
            self.publisher.webhook_changed(id);
        }
        Ok(updated)
    }

    pub async fn delete(&self, caller: &Caller, request: WebhookRef) -> Result<(), ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::DeleteWebhook, &request)?;
        let publisher = self.publisher.clone();
        let deleted = to_completion(async move {
            let cancelled = publisher.store().delete_webhook(organization, id).await?;
            if let Some(cancelled) = cancelled {
                publisher.webhook_changed(id);
                publisher
                    .metrics()
                    .deliveries_finished(DeliveryStatus::Cancelled, cancelled);
            }
            Ok(cancelled.is_some())
        });
        if !deleted.await? {
            return Err(ServiceError::NotFound(NOT_FOUND));
        }
        tracing::info!(webhook_id = %id, %organization, by = %caller.subject, "webhook deleted");
        Ok(())
    }

    /// A new secret (a new key pair for an ed25519 webhook), returned only
    /// here, and when the previous one stops signing deliveries.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        request: WebhookRef,
    ) -> Result<(Webhook, SigningSecret, DateTime<Utc>), ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::RotateWebhookSecret, &request)?;
        let (publisher, grace) = (self.publisher.clone(), self.rules.secret_grace);
        let rotated = to_completion(async move {
            // The store makes the secret: only it knows the webhook's scheme.
            let rotated = publisher
                .store()
                .rotate_secret(organization, id, grace)
                .await?;
            // Deliveries held are signed again, with the new secret first.
            publisher.webhook_changed(id);
            Ok(rotated)
        });
        let (webhook, secret, expires) = rotated.await?.ok_or(ServiceError::NotFound(NOT_FOUND))?;
        tracing::info!(webhook_id = %id, %organization, by = %caller.subject, previous_secret_until = %expires, "webhook secret rotated");
        Ok((webhook, secret, expires))
    }

    /// Schedules one more attempt, now and oldest first, of every delivery
    /// of the webhook that failed or was cancelled when it was disabled,
    /// whose event is newer than `since`; returns how many.
    pub async fn recover(
        &self,
        caller: &Caller,
        request: RecoverWebhook,
    ) -> Result<u64, ServiceError> {
        let (organization, id) = Self::resolve(caller, Action::RecoverWebhook, &request.webhook)?;
        let since = parse_field(
            "since",
            request
                .since
                .and_then(|t| clock::in_stored_range(t).map_err(|e| e.to_string())),
        )?;
        let publisher = self.publisher.clone();
        let recovered = to_completion(async move {
            let recovered = publisher
                .store()
                .recover_webhook(organization, id, since)
                .await?;
            if matches!(recovered, Recovered::Scheduled(n) if n > 0) {
                publisher.wake();
            }
            Ok(recovered)
        });
        match recovered.await? {
            Recovered::NoSuchWebhook => Err(ServiceError::NotFound(NOT_FOUND)),
            Recovered::Stopped(stopped) => {
                Err(ServiceError::FailedPrecondition(stopped.message().into()))
            }
            Recovered::Scheduled(scheduled) => {
                tracing::info!(webhook_id = %id, %organization, by = %caller.subject, %since, scheduled, "webhook recovered");
                Ok(scheduled)
            }
        }
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
                EventType::WEBHOOK_PING,
                serde_json::json!({ "webhook_id": id.to_string() }),
            ),
            idempotency_key: None,
            ordering_key: OrderingKey::default(),
            trace: telemetry::context::current(),
        };
        let publisher = self.publisher.clone();
        let sent = to_completion(async move {
            let mut sent = publisher.store().send_test_event(id, &ping).await?;
            if let TestDelivery::Scheduled { published, .. } = &mut sent {
                publisher.announce(published);
            }
            Ok(sent)
        });
        match sent.await? {
            TestDelivery::NoSuchWebhook => Err(ServiceError::NotFound(NOT_FOUND)),
            TestDelivery::Stopped(stopped) => {
                Err(ServiceError::FailedPrecondition(stopped.message().into()))
            }
            TestDelivery::Scheduled {
                published,
                delivery,
            } => Ok((published.event_id, delivery)),
        }
    }
}
