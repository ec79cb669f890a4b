//! Registering a webhook: its subscriptions checked with the catalogue,
//! and creates made at the same moment stored in one commit.

use super::oauth2::oauth2_of_create;
use super::*;
use crate::domain::event_type::{not_subscribable, parse_event_list};
use crate::domain::headers::HeaderSet;
use crate::domain::oauth2::add_all;
use crate::domain::ordering::unknown_ordering;
use crate::domain::signature_scheme::unknown_scheme;
use crate::domain::{ClientCertificate, RetrySchedule};

impl Webhooks {
    /// What is wrong with `events` when it names a type the catalogue
    /// does not hold, or has archived (unless among `kept`).
    pub(super) async fn not_subscribable(
        &self,
        events: &[EventType],
        kept: &[EventType],
    ) -> Result<Option<String>, ServiceError> {
        let offered = self.publisher.store().subscribable(events).await?;
        let refused: Vec<&str> = events
            .iter()
            .filter(|e| !offered.contains(e) && !kept.contains(e))
            .map(EventType::as_str)
            .collect();
        Ok((!refused.is_empty()).then(|| not_subscribable(&refused)))
    }

    /// Registers a webhook, publishes `webhook.created` in the same
    /// transaction (which the creates made at the same moment share), and
    /// returns the webhook with its new secret, which nothing else will ever
    /// return again (the transport shows an ed25519 webhook's public key
    /// instead). Once this returns, both are durable and the event's
    /// deliveries are with the workers, whether or not the caller still waits.
    pub async fn create(
        &self,
        caller: &Caller,
        request: CreateWebhook,
    ) -> Result<(Webhook, SigningSecret), ServiceError> {
        // Authorize before looking at the rest, so a caller without rights
        // learns nothing from validation.
        let organization = OrganizationId::parse(&request.organization_id).ok();
        authorize_early(caller, Action::CreateWebhook, organization)?;
        let parsed = NewWebhook::parse(
            &request.organization_id,
            &request.url,
            &request.events,
            &request.description,
            &request.filter,
            self.rules.allow_private_targets,
        );
        // Names of the right shape are checked with the catalogue even when
        // other fields are wrong, so every bad field is reported at once.
        let refused = match parse_event_list(&request.events) {
            Ok(events) => self.not_subscribable(&events, &[]).await?,
            Err(_) => None,
        };
        let schedule = RetrySchedule::parse(&request.retry_schedule);
        let mut header_faults = Violations::default();
        let headers = HeaderSet::parse(&request.headers, None, &mut header_faults);
        let certificate = request
            .client_certificate
            .as_ref()
            .map(|input| ClientCertificate::parse(input, chrono::Utc::now()))
            .transpose();
        let oauth2 = oauth2_of_create(&request, self.rules.allow_private_targets);
        let new = match (
            parsed,
            refused,
            request.ordering,
            schedule,
            headers,
            certificate,
            request.signature_scheme,
            oauth2,
        ) {
            (
                Ok(new),
                None,
                Ok(ordering),
                Ok(retry_schedule),
                Some(headers),
                Ok(client_certificate),
                Ok(signature_scheme),
                Ok(oauth2),
            ) => NewWebhook {
                ordering,
                retry_schedule,
                headers,
                client_certificate,
                signature_scheme,
                oauth2,
                ..new
            },
            (parsed, refused, ordering, schedule, _, certificate, scheme, oauth2) => {
                let mut violations = parsed.err().unwrap_or_default();
                if let Some(refused) = refused {
                    violations.add("events", refused);
                }
                if let Err(value) = ordering {
                    violations.add("ordering", unknown_ordering(value));
                }
                if let Err(why) = schedule {
                    violations.add("retry_schedule", why);
                }
                if let Err(found) = oauth2 {
                    add_all(&mut violations, found);
                }
                if let Err(value) = scheme {
                    violations.add("signature_scheme", unknown_scheme(value));
                }
                for fault in header_faults.into_reported() {
                    violations.add(fault.field, fault.description);
                }
                for v in certificate
                    .err()
                    .map(|e| e.into_reported())
                    .unwrap_or_default()
                {
                    violations.add(v.field, v.description);
                }
                return Err(violations.into());
            }
        };
        let new = NewWebhook {
            rate_limit_per_second: request.rate_limit_per_second,
            ..new
        };
        let secret = SigningSecret::generate_for(new.signature_scheme);
        let registration = Registration {
            webhook: new,
            secret: secret.clone(),
            created_by: caller.subject.clone(),
            trace: telemetry::context::current(),
        };
        let webhook = match self.registrations.submit(registration).await? {
            Created::Stored(stored) => stored.0,
            Created::LimitReached => {
                return Err(ServiceError::ResourceExhausted(format!(
                    "this organization already has {} webhooks, the most it may have; \
                     delete one first",
                    self.rules.max_per_organization
                )));
            }
            Created::UrlTaken => return Err(ServiceError::AlreadyExists(URL_TAKEN)),
        };
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

/// New webhooks with their `webhook.created` events, stored in groups:
/// creates made at the same moment share one durable commit.
pub(super) struct Registrations {
    pub(super) publisher: Publisher,
    /// The most webhooks one organization may have.
    pub(super) limit: u64,
}

impl Grouped for Registrations {
    type Item = Registration;
    type Done = Created;

    async fn all(&self, batch: &[Registration]) -> Result<Vec<Created>, StoreError> {
        let store = self.publisher.store();
        store.create_webhooks(batch, self.limit).await
    }

    async fn one(&self, registration: &Registration) -> Result<Created, StoreError> {
        let mut created = self.all(std::slice::from_ref(registration)).await?;
        Ok(created.pop().expect("one answer for one webhook"))
    }

    fn committed(&self, created: &mut Created) {
        if let Created::Stored(stored) = created {
            self.publisher.announce(&mut stored.1);
        }
    }
}

pub(super) fn events_violation(reason: String) -> ServiceError {
    let mut violations = Violations::default();
    violations.add("events", reason);
    violations.into()
}
