//! Webhook rows.

use crate::domain::clock;
use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    Select, Set,
};

use super::entities::webhook;
use super::rotation;
use super::scoped::Scoped;
use super::sweeps::{Target, start_sweep};
use super::{Store, StoreError, again_on_conflict, client_certificates, subscriptions};
use crate::domain::{
    Disabled, EventType, Ordering, OrganizationId, Page, PublicKey, RetrySchedule, SignatureScheme,
    SigningSecret, Webhook, WebhookChanges, WebhookId, WebhookUrl,
};

impl Store {
    pub async fn get_webhook(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        let row = webhook::Entity::find_in(organization)
            .filter(webhook::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await?;
        Ok(row.map(to_domain).transpose()?)
    }

    /// A page of the organization's webhooks, newest first, and whether more follow.
    pub async fn list_webhooks(
        &self,
        organization: OrganizationId,
        page: Page,
    ) -> Result<(Vec<Webhook>, bool), StoreError> {
        let mut rows = webhooks_page(organization, page).all(&self.db).await?;
        let more = rows.len() as u64 > page.size;
        rows.truncate(page.size as usize);
        let webhooks = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok((webhooks, more))
    }

    /// Applies `changes`; `None` when there is no such webhook here. A
    /// pause marks the webhook's pending deliveries paused and a resume
    /// clears the mark: a batch in the same transaction, the rest by the
    /// sweeper (see `pausing`).
    pub async fn update_webhook(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        changes: &WebhookChanges,
    ) -> Result<Option<Webhook>, StoreError> {
        // Marking a batch of delivery rows collides with results being
        // recorded, as a delete's cancel does.
        again_on_conflict("updating a webhook", move || {
            self.try_update_webhook(organization, id, changes)
        })
        .await
    }

    async fn try_update_webhook(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        changes: &WebhookChanges,
    ) -> Result<Option<Webhook>, StoreError> {
        let txn = self.write_transaction().await?;
        let Some(row) = webhook::Entity::find_in(organization)
            .filter(webhook::Column::Id.eq(id.as_uuid()))
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        let was_enabled = row.enabled;
        let was_ordered = row.ordered;
        let headers = match &changes.headers {
            // Claims read them from the row; kept values come from it too.
            Some(set) => Some(super::headers::to_stored(
                &self.secrets,
                id,
                set,
                row.headers.as_deref(),
            )?),
            None => None,
        };
        let mut row = row.into_active_model();
        if let Some(headers) = headers {
            row.headers = Set(headers);
        }
        if let Some(url) = &changes.url {
            row.url = Set(url.as_str().to_owned());
        }
        if let Some(events) = &changes.events {
            row.events = Set(events_json(events));
        }
        if let Some(enabled) = changes.enabled {
            // Enabled again by hand: a fresh start, whatever disabled it.
            if enabled && !was_enabled {
                row.failing_since = Set(None);
                row.disabled_reason = Set(None);
                row.disabled_at = Set(None);
            }
            row.enabled = Set(enabled);
        }
        if let Some(description) = &changes.description {
            row.description = Set(description.clone());
        }
        if let Some(rate) = changes.rate_limit_per_second {
            row.rate_limit_per_second = Set(rate.into());
        }
        if let Some(ordering) = changes.ordering {
            // Made ordered: deliveries published from now on join their
            // sequences; those pending already go out unordered.
            row.ordered = Set(ordering.is_ordered());
        }
        if let Some(schedule) = &changes.retry_schedule {
            // Claims read it from the row: the next failure of a pending
            // delivery waits by it.
            row.retry_schedule = Set(schedule.as_ref().map(RetrySchedule::to_stored));
        }
        if let Some(certificate) = &changes.client_certificate {
            // Claims read it from the row: the next attempt presents it.
            client_certificates::set(&mut row, &self.secrets, id, certificate.as_ref());
        }
        if let Some(oauth2) = &changes.oauth2 {
            // Claims read them from the row: the next attempt asks a token
            // with the new ones (the token cache tells them apart).
            super::oauth2::set(&self.secrets, id, &mut row, oauth2.as_ref())?;
        }
        if let Some(filter) = &changes.filter {
            // Publishing reads it from the row, in every process: nothing
            // else to tell.
            row.filter = Set(filter.clone());
        }
        row.updated_at = Set(now());
        let row = match row.update(&txn).await {
            Ok(row) => row,
            // Deleted meanwhile: as if it had never been there.
            Err(DbErr::RecordNotUpdated) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        if let Some(events) = &changes.events {
            subscriptions::resubscribe(&txn, organization, id, events).await?;
        }
        let mut swept_later = false;
        let enabled_changed = row.enabled != was_enabled;
        // Made unordered: what waits behind a head is let go, a batch now,
        // the rest by the sweeper.
        let unordered = was_ordered && !row.ordered;
        if enabled_changed || unordered {
            let target = Target::of(row.enabled, row.disabled_reason.clone(), row.ordered);
            swept_later = start_sweep(&txn, organization, id, target)
                .await?
                .sweep_later;
        }
        if changes.changes_sending() {
            self.announce_change(&txn, id).await?;
        }
        txn.commit().await?;
        if swept_later {
            self.sweep_soon();
        }
        Ok(Some(to_domain(row)?))
    }

    /// Deletes the webhook and cancels its pending deliveries: a batch in
    /// the same transaction, the rest by the sweeper (see `sweeps`), which
    /// counts those it cancels. Returns how many this transaction
    /// cancelled, `None` when there is no such webhook here.
    pub async fn delete_webhook(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<Option<u64>, StoreError> {
        // The cancel locks a batch of delivery rows, which results being recorded
        // lock in another order: PostgreSQL may end one of them as a
        // deadlock. A delete is worth running again.
        again_on_conflict("deleting a webhook", move || {
            self.try_delete_webhook(organization, id)
        })
        .await
    }

    async fn try_delete_webhook(
        &self,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<Option<u64>, StoreError> {
        let txn = self.write_transaction().await?;
        // Waits for transactions that are scheduling deliveries to it (they
        // hold the row shared), so the cancel below sees their deliveries.
        // Its subscriptions go with it (the foreign key cascades).
        let deleted = webhook::Entity::delete_in(organization)
            .filter(webhook::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Ok(None);
        }
        let started = start_sweep(&txn, organization, id, Target::Deleted { organization }).await?;
        self.announce_change(&txn, id).await?;
        txn.commit().await?;
        if started.sweep_later {
            self.sweep_soon();
        }
        Ok(Some(started.cancelled))
    }

    /// Replaces the secret with a new one of the webhook's scheme (a new
    /// key pair for ed25519); the one it replaces (like those replaced
    /// before it, see `rotation`) keeps signing during `grace`.
    /// Returns the webhook, the new secret and when the old one stops being
    /// used.
    pub async fn rotate_secret(
        &self,
        organization: OrganizationId,
        id: WebhookId,
        grace: Duration,
    ) -> Result<Option<(Webhook, SigningSecret, DateTime<Utc>)>, StoreError> {
        let txn = self.write_transaction().await?;
        let Some(row) = webhook::Entity::find_in(organization)
            .filter(webhook::Column::Id.eq(id.as_uuid()))
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        let now = now();
        let expires = clock::after(now, grace);
        let previous = rotation::rotated(&row, row.secret.clone(), now, expires)?;
        let scheme = stored_scheme(row.id, &row.signature_scheme)?;
        let secret = SigningSecret::generate_for(scheme);
        let mut row = row.into_active_model();
        row.previous_secrets = Set(Some(previous));
        row.secret = Set(self.secrets.seal(id, &secret));
        row.public_key = Set(public_key_of(&secret));
        row.updated_at = Set(now);
        let row = row.update(&txn).await?;
        self.announce_change(&txn, id).await?;
        txn.commit().await?;
        Ok(Some((to_domain(row)?, secret, expires)))
    }
}

/// The statement of [`Store::list_webhooks`]: the organization's webhooks,
/// newest first, one more than `page` holds (to tell whether more follow).
pub(super) fn webhooks_page(organization: OrganizationId, page: Page) -> Select<webhook::Entity> {
    let mut query = webhook::Entity::find_in(organization);
    if let Some(after) = page.after {
        query = query.filter(webhook::Column::Id.lt(after));
    }
    query
        .order_by_desc(webhook::Column::Id)
        .limit(page.size + 1)
}

/// Microseconds: what PostgreSQL keeps, so what we return is what we stored.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(super) fn events_json(events: &[EventType]) -> serde_json::Value {
    serde_json::json!(events.iter().map(|e| e.as_str()).collect::<Vec<_>>())
}

pub(super) fn to_domain(row: webhook::Model) -> anyhow::Result<Webhook> {
    let oauth2 = super::oauth2::stored_settings(&row)?;
    let names: Vec<String> =
        serde_json::from_value(row.events).context("webhook events are not a JSON list")?;
    let events = names
        .iter()
        .map(|n| {
            EventType::parse(n).map_err(|e| anyhow!("webhook {}: stored event type: {e}", row.id))
        })
        .collect::<Result<_, _>>()?;
    Ok(Webhook {
        id: WebhookId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        url: WebhookUrl::from_stored(&row.url).context("stored webhook URL is invalid")?,
        events,
        description: row.description,
        enabled: row.enabled,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        failing_since: row.failing_since,
        disabled: match (row.disabled_reason, row.disabled_at) {
            (Some(reason), Some(at)) => Some(Disabled { reason, at }),
            _ => None,
        },
        rate_limit_per_second: u32::try_from(row.rate_limit_per_second).unwrap_or(0),
        filter: row.filter,
        ordering: Ordering::from_ordered(row.ordered),
        retry_schedule: stored_schedule(row.id, row.retry_schedule.as_deref())?,
        headers: super::headers::shown(row.id, row.headers.as_deref())?,
        client_certificate: client_certificates::stored_info(
            row.id,
            row.client_certificate_chain.as_deref(),
        )?,
        signature_scheme: stored_scheme(row.id, &row.signature_scheme)?,
        public_key: row.public_key.map(PublicKey::from_stored),
        oauth2,
    })
}

/// A webhook's signature scheme as its row holds it.
pub(super) fn stored_scheme(id: uuid::Uuid, text: &str) -> anyhow::Result<SignatureScheme> {
    SignatureScheme::from_stored(text).map_err(|e| anyhow!("webhook {id}: {e}"))
}

/// The `public_key` column for a new secret: the public key of an ed25519
/// one, NULL for HMAC.
pub(super) fn public_key_of(secret: &SigningSecret) -> Option<String> {
    secret.public_key().map(|key| key.as_str().to_owned())
}

/// A webhook's retry schedule as its row holds it.
pub(super) fn stored_schedule(
    id: uuid::Uuid,
    text: Option<&str>,
) -> anyhow::Result<Option<RetrySchedule>> {
    text.map_or(Ok(None), RetrySchedule::from_stored)
        .map_err(|e| anyhow!("webhook {id}: stored retry schedule: {e}"))
}
