//! Webhook rows.

use anyhow::{Context, anyhow};
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};

use super::entities::webhook;
use super::events::{Published, publish_in};
use super::{Store, StoreError};
use crate::domain::{
    EventType, NewEvent, NewWebhook, OrganizationId, SigningSecret, Webhook, WebhookId, WebhookUrl,
};

impl Store {
    /// Stores a new webhook with its secret, sealed, and publishes the event
    /// `announce` makes of it in the same transaction. `AlreadyExists` when
    /// the organization already has a webhook with this URL.
    pub async fn create_webhook(
        &self,
        new: &NewWebhook,
        secret: &SigningSecret,
        created_by: &str,
        announce: impl FnOnce(&Webhook) -> NewEvent,
    ) -> Result<(Webhook, Published), StoreError> {
        let id = WebhookId::generate();
        // Microseconds: what PostgreSQL keeps, so what we return is what we stored.
        let now = Utc::now().trunc_subsecs(6);
        let events: Vec<&str> = new.events.iter().map(|e| e.as_str()).collect();
        let txn = self.db.begin().await?;
        let row = webhook::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(new.organization_id.as_uuid()),
            url: Set(new.url.as_str().to_owned()),
            events: Set(serde_json::json!(events)),
            secret: Set(self.secrets.seal(id, secret)),
            created_by: Set(created_by.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let webhook = to_domain(row)?;
        let published = publish_in(&txn, &announce(&webhook)).await?;
        txn.commit().await?;
        Ok((webhook, published))
    }
}

fn to_domain(row: webhook::Model) -> anyhow::Result<Webhook> {
    let names: Vec<String> =
        serde_json::from_value(row.events).context("webhook events are not a JSON list")?;
    let events = names
        .iter()
        .map(|n| n.parse::<EventType>())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("webhook {}: {e}", row.id))?;
    Ok(Webhook {
        id: WebhookId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        url: WebhookUrl::from_stored(&row.url).context("stored webhook URL is invalid")?,
        events,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
