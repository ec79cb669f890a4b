//! Registering webhooks, several in one transaction: each with its sealed
//! secret, its subscriptions and its `webhook.created` event, within its
//! organization's limit.

use std::collections::HashSet;
use std::collections::hash_map::{Entry, HashMap};

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryTrait,
};
use uuid::Uuid;

use super::entities::webhook;
use super::events::Published;
use super::handoff::HandOff;
use super::scoped::Scoped;
use super::webhooks::{events_json, now, public_key_of, to_domain};
use super::{Store, StoreError, client_certificates, subscriptions};
use crate::domain::webhook::created_event;
use crate::domain::{
    NewEvent, NewWebhook, OrganizationId, RetrySchedule, SigningSecret, TraceContext, Webhook,
    WebhookId,
};

/// A webhook to register: the caller's valid request, the secret made for
/// it, who asked, and in which trace.
pub struct Registration {
    pub webhook: NewWebhook,
    pub secret: SigningSecret,
    /// The `sub` of the caller.
    pub created_by: String,
    /// The trace of the RPC that registers it, for its `webhook.created`.
    pub trace: Option<TraceContext>,
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
        let mut created: Vec<Option<Created>> = batch.iter().map(|_| None).collect();
        // Those stored: where their answer goes, and the webhook.
        let mut stored: Vec<(usize, Webhook)> = Vec::new();
        // In rounds of one statement each: those in order that fit under
        // their organization's limit if every one before them is stored. A
        // taken URL leaves room, so those refused for the limit try again.
        let mut waiting: Vec<usize> = (0..batch.len()).collect();
        while !waiting.is_empty() {
            let mut room = counts.clone();
            let (round, rest): (Vec<usize>, Vec<usize>) = waiting.into_iter().partition(|&at| {
                let count = room
                    .get_mut(&batch[at].webhook.organization_id)
                    .expect("every organization of the batch is counted");
                *count += 1;
                *count <= limit
            });
            if round.is_empty() {
                for at in rest {
                    created[at] = Some(Created::LimitReached);
                }
                break;
            }
            let rows = round
                .iter()
                .map(|&at| self.webhook_row(&batch[at]))
                .collect::<anyhow::Result<_>>()?;
            for (at, row) in round.into_iter().zip(insert_webhooks(&txn, rows).await?) {
                match row {
                    Some(row) => {
                        *counts
                            .get_mut(&batch[at].webhook.organization_id)
                            .expect("counted") += 1;
                        stored.push((at, to_domain(row)?));
                    }
                    None => created[at] = Some(Created::UrlTaken),
                }
            }
            waiting = rest;
        }
        stored.sort_by_key(|(at, _)| *at);
        // The group's subscriptions in one statement, then its
        // `webhook.created` events published together: a create in a group
        // costs about one statement of its own, not five.
        let webhooks: Vec<&Webhook> = stored.iter().map(|(_, webhook)| webhook).collect();
        subscriptions::subscribe_all(&txn, &webhooks).await?;
        let events: Vec<NewEvent> = stored
            .iter()
            .map(|(at, webhook)| NewEvent {
                trace: batch[*at].trace.clone(),
                ..created_event(webhook)
            })
            .collect();
        let events: Vec<&NewEvent> = events.iter().collect();
        // Leased to nobody: creates are rare, and the wake after the commit
        // has their deliveries claimed at once. (Only the publisher's one
        // task takes quotas, so no two of them count the same free slots.)
        let published = self
            .publish_all(&txn, &events, &mut HandOff::none())
            .await?;
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

    /// The row of a webhook to register, with its secret and headers sealed.
    fn webhook_row(&self, registration: &Registration) -> anyhow::Result<webhook::Model> {
        let new = &registration.webhook;
        let id = WebhookId::generate();
        let now = now();
        let (client_certificate_chain, client_certificate_key) =
            client_certificates::columns(&self.secrets, id, new.client_certificate.as_ref());
        Ok(webhook::Model {
            id: id.as_uuid(),
            organization_id: new.organization_id.as_uuid(),
            url: new.url.as_str().to_owned(),
            events: events_json(&new.events),
            secret: self.secrets.seal(id, &registration.secret),
            created_by: registration.created_by.clone(),
            created_at: now,
            updated_at: now,
            description: new.description.clone(),
            enabled: true,
            previous_secrets: None,
            rate_limit_per_second: new.rate_limit_per_second.into(),
            filter: new.filter.clone(),
            ordered: new.ordering.is_ordered(),
            retry_schedule: new.retry_schedule.as_ref().map(RetrySchedule::to_stored),
            headers: super::headers::to_stored(&self.secrets, id, &new.headers, None)?,
            client_certificate_chain,
            client_certificate_key,
            signature_scheme: new.signature_scheme.as_stored().to_owned(),
            public_key: public_key_of(&registration.secret),
            oauth2: new
                .oauth2
                .as_ref()
                .map(|c| super::oauth2::to_stored(&c.settings)),
            oauth2_secret: new
                .oauth2
                .as_ref()
                .map(|c| super::oauth2::seal(&self.secrets, id, &c.client_secret)),
            failing_since: None,
            disabled_reason: None,
            disabled_at: None,
        })
    }
}

/// Stores `rows` inside `txn` in one statement; each answer is the row, or
/// `None` when its URL was taken (by a webhook stored before, or by a row
/// before it here).
async fn insert_webhooks(
    txn: &DatabaseTransaction,
    rows: Vec<webhook::Model>,
) -> Result<Vec<Option<webhook::Model>>, StoreError> {
    // A taken URL inserts nothing instead of failing: on PostgreSQL a
    // failed statement would end the transaction, and with it the group's
    // other webhooks.
    let url_taken = OnConflict::columns([webhook::Column::OrganizationId, webhook::Column::Url])
        .do_nothing()
        .to_owned();
    let mut insert =
        webhook::Entity::insert_many(rows.iter().cloned().map(IntoActiveModel::into_active_model))
            .on_conflict(url_taken)
            .into_query();
    insert.returning_col(webhook::Column::Id);
    let inserted: HashSet<Uuid> = txn
        .query_all(&insert)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .map(|row| inserted.contains(&row.id).then_some(row))
        .collect())
}

/// A PostgreSQL advisory lock key for one organization's webhook count.
fn lock_key(organization: OrganizationId) -> i64 {
    let bytes = organization.as_uuid().into_bytes();
    i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}
