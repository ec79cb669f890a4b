//! Claiming due deliveries with a lease. Several processes on one PostgreSQL
//! share the work: a claim locks the rows it takes with `FOR UPDATE SKIP
//! LOCKED` and leases them, so no other claimer sends the same attempt while
//! the lease holds.

use crate::domain::clock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, UpdateMany,
};
use uuid::Uuid;

use super::entities::{delivery, event, webhook};
use super::pausing::held_back;
use super::scoped::Scoped;
use super::sending::{Opened, Sending};
use super::{Store, StoreError};
use crate::domain::{DeliveryId, DeliveryStatus, EventId, OrganizationId, TraceContext, WebhookId};

/// What a claim took.
#[derive(Debug, Default)]
pub struct Claims {
    /// The deliveries to send, oldest due first.
    pub deliveries: Vec<Claimed>,
    /// How many the claim leased, those it held back included (a deleted
    /// webhook's, a paused one's not yet marked): as many as asked for
    /// means more may be due.
    pub taken: usize,
    /// How many it cancelled instead: a deleted webhook's deliveries the
    /// sweeper has not reached yet (or whose event is lost).
    pub cancelled: u64,
}

/// A delivery leased for one attempt, with everything needed to send it.
#[derive(Debug)]
pub struct Claimed {
    pub id: DeliveryId,
    pub organization_id: OrganizationId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    /// When the event was stored: delivery latency counts from it.
    pub event_created_at: DateTime<Utc>,
    /// The attempt about to be made, 1-based.
    pub attempt: u32,
    /// Where and how it is sent: its webhook's, shared with the other
    /// deliveries to that webhook claimed with it.
    pub sending: Arc<Sending>,
    pub body: Arc<[u8]>,
    /// The trace its event was published in: its attempts continue it.
    pub trace: Option<TraceContext>,
    /// At most this many deliveries a second to the webhook; 0: no limit.
    pub rate_limit_per_second: u32,
    /// The lease this process holds on the delivery.
    pub lease: Lease,
    /// When the webhook's settings were read: a change committed after this
    /// makes the claim stale.
    pub loaded_at: Instant,
    /// The ordering key of its sequence when it is an ordered webhook's
    /// (`""`: the default one); `None` for a delivery in no sequence. At
    /// most one delivery of a sequence is in flight in this process at a time.
    pub ordering_key: Option<String>,
}

/// What a delivery sends of its event: its type, its body, when it was
/// stored, and the trace it was published in.
type EventParts = (String, Arc<[u8]>, DateTime<Utc>, Option<TraceContext>);

/// A lease on one delivery: it is ours while its `lease_until` is still this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub delivery: DeliveryId,
    pub until: DateTime<Utc>,
}

/// One delivery about to be attempted.
pub(super) struct Delivering<'a> {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: &'a str,
    pub event_created_at: DateTime<Utc>,
    pub attempt: u32,
    pub body: &'a Arc<[u8]>,
    pub trace: Option<&'a TraceContext>,
    pub lease_until: DateTime<Utc>,
    pub ordering_key: Option<String>,
}

/// The end of a lease taken now for `lease`, at the precision PostgreSQL
/// keeps, so that comparing it with the stored value later is exact.
pub(super) fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    clock::after(now, lease).trunc_subsecs(6)
}

impl Store {
    /// Leases up to `limit` due deliveries of `organization` for `lease`,
    /// oldest due first, skipping the webhooks in `skip` (their endpoints
    /// are busy). Deliveries whose webhook or event is gone are cancelled on
    /// the way, and those of a paused webhook not marked yet are marked.
    pub async fn claim_due(
        &self,
        organization: OrganizationId,
        limit: u64,
        lease: Duration,
        skip: &[WebhookId],
    ) -> Result<Claims, StoreError> {
        let now = Utc::now();
        let until = lease_end(now, lease);
        let txn = self.relaxed_transaction().await?;
        let backend = self.db.get_database_backend();
        let leased = claiming(backend, organization, limit, skip, now, until)
            .exec_with_returning(&txn)
            .await?;
        let taken = leased.len();
        if leased.is_empty() {
            txn.commit().await?;
            return Ok(Claims::default());
        }
        let (deliveries, cancelled) = self.load_claimed(&txn, leased, until).await?;
        txn.commit().await?;
        Ok(Claims {
            deliveries,
            taken,
            cancelled,
        })
    }

    pub(super) async fn load_claimed(
        &self,
        txn: &impl ConnectionTrait,
        mut leased: Vec<delivery::Model>,
        until: DateTime<Utc>,
    ) -> Result<(Vec<Claimed>, u64), StoreError> {
        // RETURNING gives no order: the oldest due go first.
        leased.sort_by_key(|d| d.next_attempt_at);
        let mut event_ids: Vec<Uuid> = leased.iter().map(|d| d.event_id).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let mut webhook_ids: Vec<Uuid> = leased.iter().map(|d| d.webhook_id).collect();
        webhook_ids.sort_unstable();
        webhook_ids.dedup();

        let events: HashMap<Uuid, EventParts> = event::Entity::find()
            .select_only()
            .columns([
                event::Column::Id,
                event::Column::EventType,
                event::Column::Body,
                event::Column::CreatedAt,
                event::Column::TraceContext,
            ])
            .filter(event::Column::Id.is_in(event_ids))
            .into_tuple::<(Uuid, String, String, DateTime<Utc>, Option<String>)>()
            .all(txn)
            .await?
            .into_iter()
            .map(|(id, kind, body, at, trace)| {
                let trace = trace.as_deref().map(TraceContext::from_stored);
                (id, (kind, body.into_bytes().into(), at, trace))
            })
            .collect();
        let webhooks: HashMap<Uuid, webhook::Model> = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(webhook_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        let now = Utc::now();

        let mut claimed = Vec::with_capacity(leased.len());
        let mut opened = Opened::new();
        let mut orphans = Vec::new();
        let mut paused = Vec::new();
        for row in leased {
            let (Some((event_type, body, event_created_at, trace)), Some(webhook)) =
                (events.get(&row.event_id), webhooks.get(&row.webhook_id))
            else {
                // Its webhook was deleted (or its event lost): nobody can
                // receive it any more, so it must not come back every lease.
                // A deleted webhook's the sweeper has not reached yet are
                // expected; a lost event is not.
                if webhooks.contains_key(&row.webhook_id) {
                    tracing::warn!(delivery_id = %row.id, webhook_id = %row.webhook_id, "delivery without its event; cancelled");
                } else {
                    tracing::debug!(delivery_id = %row.id, webhook_id = %row.webhook_id, "delivery of a deleted webhook; cancelled");
                }
                orphans.push(row.id);
                continue;
            };
            if !webhook.enabled {
                // Paused, and this one not marked yet (the sweeper is on
                // its way): it waits for the resume like the others. Or
                // disabled, and this one not cancelled yet: marked too, it
                // waits out of the claim path for the sweeper (or for being
                // enabled again, when the sweeper leaves it pending).
                paused.push((row.id, row.webhook_id));
                continue;
            }
            let delivery = Delivering {
                id: DeliveryId::from_uuid(row.id),
                event_id: EventId::from_uuid(row.event_id),
                event_type,
                event_created_at: *event_created_at,
                attempt: row.attempts as u32 + 1,
                body,
                trace: trace.as_ref(),
                lease_until: until,
                ordering_key: row.ordering_key.clone(),
            };
            if let Some(claim) = self.claim_of(&mut opened, webhook, delivery, now)? {
                claimed.push(claim);
            }
        }
        let mut cancelled = 0;
        if !orphans.is_empty() {
            cancelled = cancelling(delivery::Entity::update_many())
                .filter(delivery::Column::Id.is_in(orphans))
                .exec(txn)
                .await?
                .rows_affected;
        }
        if !paused.is_empty() {
            tracing::debug!(
                deliveries = paused.len(),
                "claimed deliveries of paused webhooks held back"
            );
            held_back(txn, &paused).await?;
        }
        Ok((claimed, cancelled))
    }

    /// What a worker needs to send `delivery` to `webhook`; `None` (logged)
    /// when its secret, a header's value or its client certificate's key
    /// cannot be opened: not the delivery's fault, so it is kept for when the
    /// key is fixed. The webhook is opened once per batch, in `opened`.
    pub(super) fn claim_of(
        &self,
        opened: &mut Opened,
        webhook: &webhook::Model,
        delivery: Delivering<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Claimed>, StoreError> {
        let sending = match opened.get(&webhook.id) {
            Some(sending) => sending.clone(),
            None => {
                let sending = self.sending(webhook, now)?.map(Arc::new);
                opened.insert(webhook.id, sending.clone());
                sending
            }
        };
        let Some(sending) = sending else {
            return Ok(None);
        };
        Ok(Some(Claimed {
            id: delivery.id,
            organization_id: OrganizationId::from_uuid(webhook.organization_id),
            webhook_id: WebhookId::from_uuid(webhook.id),
            event_id: delivery.event_id,
            event_type: delivery.event_type.to_owned(),
            event_created_at: delivery.event_created_at,
            attempt: delivery.attempt,
            sending,
            body: delivery.body.clone(),
            trace: delivery.trace.cloned(),
            rate_limit_per_second: u32::try_from(webhook.rate_limit_per_second).unwrap_or(0),
            lease: Lease {
                delivery: delivery.id,
                until: delivery.lease_until,
            },
            loaded_at: Instant::now(),
            // A webhook made unordered keeps its deliveries' keys in their
            // rows; they no longer wait for each other anywhere.
            ordering_key: delivery.ordering_key.filter(|_| webhook.ordered),
        }))
    }
}

/// Deliveries the claims may take, as the predicate of the partial index
/// `deliveries_organization_due` says it, word for word: SQLite uses a partial index only for a query holding its terms,
/// PostgreSQL only when it can prove them (so a literal, not a parameter).
/// Pending, not waiting for a paused webhook, and not waiting behind an
/// earlier delivery of its sequence (an ordered webhook's: only each
/// sequence's head is claimable).
pub(super) const CLAIMABLE: &str = "status = 'pending' AND NOT paused AND NOT behind";

/// The statement of [`Store::claim_due`]: leases until `until` up to
/// `limit` of the organization's deliveries due at `now` and not leased,
/// oldest due first, but those of the webhooks in `skip`.
pub(super) fn claiming(
    backend: DbBackend,
    organization: OrganizationId,
    limit: u64,
    skip: &[WebhookId],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> UpdateMany<delivery::Entity> {
    let mut due = delivery::Entity::find_in(organization)
        .select_only()
        .column(delivery::Column::Id)
        // A paused webhook's deliveries wait, out of the index read here,
        // as do those behind their sequence's head.
        .filter(Expr::cust(CLAIMABLE))
        .filter(delivery::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any()
                .add(delivery::Column::LeaseUntil.is_null())
                .add(delivery::Column::LeaseUntil.lte(now)),
        )
        .order_by_asc(delivery::Column::NextAttemptAt)
        .limit(limit);
    if !skip.is_empty() {
        due = due.filter(delivery::Column::WebhookId.is_not_in(skip.iter().map(|w| w.as_uuid())));
    }
    let update = delivery::Entity::update_many()
        .col_expr(delivery::Column::LeaseUntil, Expr::value(Some(until)));
    if backend != DbBackend::Postgres {
        return update.filter(delivery::Column::Id.in_subquery(due.into_query()));
    }
    due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    // `id = ANY(ARRAY(...))`, not `id IN (...)`: PostgreSQL keeps a generic
    // plan for a statement prepared often, and in one that knows neither
    // the organization nor the limit, `IN` became a hash join over a read
    // of the whole table (tests/api/skewed_plans.rs); an array of ids is
    // looked up by primary key whatever the plan.
    let ids = Expr::SubQuery(None, Box::new(due.into_query().into()));
    let id = Expr::col((delivery::Entity, delivery::Column::Id));
    update.filter(Expr::cust_with_exprs("$1 = ANY(ARRAY $2)", [id, ids]))
}

/// `update`, made to cancel the pending deliveries it selects: they can
/// never be sent (their webhook is gone).
pub(super) fn cancelling(update: UpdateMany<delivery::Entity>) -> UpdateMany<delivery::Entity> {
    update
        .col_expr(
            delivery::Column::Status,
            Expr::value(DeliveryStatus::Cancelled.as_str()),
        )
        .col_expr(
            delivery::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(
            delivery::Column::UpdatedAt,
            Expr::value(super::webhooks::now()),
        )
        .filter(Expr::cust("status = 'pending'"))
}
