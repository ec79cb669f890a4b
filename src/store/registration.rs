//! Registering webhooks, several in one transaction: each with its sealed
//! secret, its subscriptions and its `webhook.created` event, within its
//! organization's limit.

use std::collections::hash_map::{Entry, HashMap};

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait, Set, TryIntoModel,
};

use super::entities::webhook;
use super::events::Published;
use super::scoped::Scoped;
use super::webhooks::{events_json, now, to_domain};
use super::{Store, StoreError, subscriptions};
use crate::domain::webhook::created_event;
use crate::domain::{NewEvent, NewWebhook, OrganizationId, SigningSecret, Webhook, WebhookId};

/// A webhook to register: the caller's valid request, the secret made for
/// it, and who asked.
pub struct Registration {
    pub webhook: NewWebhook,
    pub secret: SigningSecret,
    /// The `sub` of the caller.
    pub created_by: String,
}

/// What registering a webhook did.
pub enum Created {
    /// Stored, and its `webhook.created` event published.
    Stored(Box<(Webhook, Published)>),
    /// The organization has as many webhooks as it may.
    LimitReached,
    /// The organization already has a webhook with this URL.
    UrlTaken,
}

/// How far below its limit an organization's creates start to take turns:
/// more creates than this racing in one organization at that moment could
/// pass the limit together.
const LOCK_MARGIN: u64 = 64;

impl Store {
    /// Registers each webhook of `batch` in one transaction, in their order,
    /// and answers for each: stored (with its `webhook.created` event),
    /// refused because its organization has `limit` webhooks (counting those
    /// stored before it here), or refused because its URL is taken (by a
    /// webhook before it here too). Any other failure stores none.
    pub async fn create_webhooks(
        &self,
        batch: &[Registration],
        limit: u64,
    ) -> Result<Vec<Created>, StoreError> {
        let txn = self.write_transaction().await?;
        let mut counts = self.count_webhooks(&txn, batch, limit).await?;
        let mut created: Vec<Option<Created>> = Vec::with_capacity(batch.len());
        // Those stored: where their answer goes, and the webhook.
        let mut stored: Vec<(usize, Webhook)> = Vec::new();
        for registration in batch {
            let count = counts
                .get_mut(&registration.webhook.organization_id)
                .expect("every organization of the batch is counted");
            if *count >= limit {
                created.push(Some(Created::LimitReached));
                continue;
            }
            match self.insert_webhook(&txn, registration).await? {
                Some(webhook) => {
                    *count += 1;
                    stored.push((created.len(), webhook));
                    created.push(None);
                }
                None => created.push(Some(Created::UrlTaken)),
            }
        }
        // The group's subscriptions in one statement, then its
        // `webhook.created` events published together: a create in a group
        // costs about one statement of its own, not five.
        let webhooks: Vec<&Webhook> = stored.iter().map(|(_, webhook)| webhook).collect();
        subscriptions::subscribe_all(&txn, &webhooks).await?;
        let events: Vec<NewEvent> = webhooks.iter().map(|w| created_event(w)).collect();
        let events: Vec<&NewEvent> = events.iter().collect();
        let published = self.publish_all(&txn, &events).await?;
        txn.commit().await?;
        for ((at, webhook), published) in stored.into_iter().zip(published) {
            created[at] = Some(Created::Stored(Box::new((webhook, published))));
        }
        Ok(created
            .into_iter()
            .map(|answer| answer.expect("every registration is answered"))
            .collect())
    }

    /// How many webhooks each organization of `batch` has. On PostgreSQL,
    /// near the limit, an organization's creates take turns (they count
    /// again under its lock), so together they cannot pass it; far from it
    /// they run in parallel. (SQLite has one writer.)
    async fn count_webhooks(
        &self,
        txn: &DatabaseTransaction,
        batch: &[Registration],
        limit: u64,
    ) -> Result<HashMap<OrganizationId, u64>, StoreError> {
        let count = |organization| webhook::Entity::find_in(organization).count(txn);
        let mut counts = HashMap::new();
        for registration in batch {
            let organization = registration.webhook.organization_id;
            if let Entry::Vacant(entry) = counts.entry(organization) {
                entry.insert(count(organization).await?);
            }
        }
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(counts);
        }
        let mut near: Vec<OrganizationId> = counts
            .iter()
            .filter(|(_, existing)| **existing + LOCK_MARGIN >= limit)
            .map(|(organization, _)| *organization)
            .collect();
        // Always in one order, so two groups never wait for each other.
        near.sort_by_key(|organization| lock_key(*organization));
        let mut locked = None;
        for organization in near {
            let key = lock_key(organization);
            // Two organizations may share a key: one lock serves both.
            if locked != Some(key) {
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({key})"))
                    .await?;
                locked = Some(key);
            }
            counts.insert(organization, count(organization).await?);
        }
        Ok(counts)
    }

    /// Stores one webhook inside `txn`; `None` when its URL is taken.
    async fn insert_webhook(
        &self,
        txn: &DatabaseTransaction,
        registration: &Registration,
    ) -> Result<Option<Webhook>, StoreError> {
        let new = &registration.webhook;
        let id = WebhookId::generate();
        let now = now();
        let row = webhook::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(new.organization_id.as_uuid()),
            url: Set(new.url.as_str().to_owned()),
            events: Set(events_json(&new.events)),
            secret: Set(self.secrets.seal(id, &registration.secret)),
            created_by: Set(registration.created_by.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            description: Set(String::new()),
            enabled: Set(true),
            previous_secrets: Set(None),
            rate_limit_per_second: Set(new.rate_limit_per_second.into()),
            failing_since: Set(None),
            disabled_reason: Set(None),
            disabled_at: Set(None),
        };
        // A taken URL inserts nothing instead of failing: on PostgreSQL a
        // failed statement would end the transaction, and with it the
        // group's other webhooks.
        let url_taken =
            OnConflict::columns([webhook::Column::OrganizationId, webhook::Column::Url])
                .do_nothing()
                .to_owned();
        let inserted = webhook::Entity::insert(row.clone())
            .on_conflict(url_taken)
            .exec_without_returning(txn)
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        Ok(Some(to_domain(row.try_into_model()?)?))
    }
}

/// A PostgreSQL advisory lock key for one organization's webhook count.
fn lock_key(organization: OrganizationId) -> i64 {
    let bytes = organization.as_uuid().into_bytes();
    i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}
