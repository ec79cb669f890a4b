//! A webhook opened for sending: its URL, secrets, headers, keys and
//! schedule, read from its row once per batch of claims and shared by the
//! batch's deliveries to it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::entities::webhook;
use super::{Store, StoreError};
use crate::domain::{
    ClientIdentity, OAuth2Credentials, RetrySchedule, SignatureScheme, SigningSecret, WebhookId,
    WebhookUrl,
};

/// What every delivery to one webhook is sent with, read from its row and
/// opened (secrets, headers, keys) once per batch of claims.
#[derive(Debug)]
pub struct Sending {
    pub url: WebhookUrl,
    /// What `secret` and `previous_secrets` are: HMAC secrets or ed25519
    /// private keys.
    pub signature_scheme: SignatureScheme,
    pub secret: SigningSecret,
    /// Older secrets still in their grace period after rotations, newest first.
    pub previous_secrets: Vec<SigningSecret>,
    /// The webhook's own retry schedule; `None` for the service's default.
    pub retry_schedule: Option<RetrySchedule>,
    /// The webhook's own headers, opened, values marked sensitive.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The client certificate presented to the endpoint; `None` for none.
    pub client_identity: Option<ClientIdentity>,
    /// Its OAuth2 client credentials: the attempt carries a token they get.
    pub oauth2: Option<OAuth2Credentials>,
}

/// The webhooks opened for one batch of claims, by id: `None` for one
/// whose secrets could not be opened.
pub(super) type Opened = HashMap<Uuid, Option<Arc<Sending>>>;

impl Store {
    /// `webhook` opened for sending; `None` (logged) when a secret, a
    /// header's value or a key cannot be opened.
    pub(super) fn sending(
        &self,
        webhook: &webhook::Model,
        now: DateTime<Utc>,
    ) -> Result<Option<Sending>, StoreError> {
        let webhook_id = WebhookId::from_uuid(webhook.id);
        let opened = || -> anyhow::Result<_> {
            let secret = self.secrets.open(webhook_id, &webhook.secret)?;
            let previous = super::rotation::live_previous(webhook, now)?
                .iter()
                .map(|sealed| self.secrets.open(webhook_id, sealed))
                .collect::<Result<Vec<_>, _>>()?;
            let headers =
                super::headers::opened(&self.secrets, webhook_id, webhook.headers.as_deref())?;
            let identity = super::client_certificates::identity(&self.secrets, webhook)?;
            let oauth2 = super::oauth2::credentials(&self.secrets, webhook)?;
            Ok((secret, previous, headers, identity, oauth2))
        };
        let (secret, previous_secrets, headers, client_identity, oauth2) = match opened() {
            Ok(secrets) => secrets,
            Err(err) => {
                tracing::error!(%webhook_id, error = %format!("{err:#}"), "cannot sign a delivery");
                return Ok(None);
            }
        };
        let url = WebhookUrl::from_stored(&webhook.url)
            .map_err(|e| anyhow::anyhow!("stored URL of webhook {webhook_id}: {e}"))?;
        Ok(Some(Sending {
            url,
            signature_scheme: super::webhooks::stored_scheme(
                webhook.id,
                &webhook.signature_scheme,
            )?,
            secret,
            previous_secrets,
            retry_schedule: super::webhooks::stored_schedule(
                webhook.id,
                webhook.retry_schedule.as_deref(),
            )?,
            headers,
            client_identity,
            oauth2,
        }))
    }
}
