//! Which webhooks subscribe to which event types, kept as an index by
//! organization and type: publishing reads the webhooks subscribed to its
//! event's type instead of every webhook of the organization. A webhook's
//! `events` stay what the API returns; these rows follow them, written in
//! the transaction that sets them, and go with the webhook when it is
//! deleted (the foreign key cascades).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
    Select, Set,
};

use super::entities::{subscription, webhook};
use super::events::CHUNK;
use super::scoped::Scoped;
use crate::domain::{EventType, OrganizationId, Webhook, WebhookId};

/// Subscribes a new webhook to `events`.
pub(super) async fn subscribe(
    txn: &impl ConnectionTrait,
    organization: OrganizationId,
    webhook: WebhookId,
    events: &[EventType],
) -> Result<(), sea_orm::DbErr> {
    let rows = events.iter().map(|event| subscription::ActiveModel {
        organization_id: Set(organization.as_uuid()),
        event_type: Set(event.as_str().to_owned()),
        webhook_id: Set(webhook.as_uuid()),
    });
    // A webhook names a handful of types at most: one statement.
    subscription::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Subscribes new webhooks to their `events`, in one statement per
/// [`CHUNK`] rows.
pub(super) async fn subscribe_all(
    txn: &impl ConnectionTrait,
    webhooks: &[&Webhook],
) -> Result<(), sea_orm::DbErr> {
    let mut rows: Vec<subscription::ActiveModel> = webhooks
        .iter()
        .flat_map(|w| {
            w.events.iter().map(|event| subscription::ActiveModel {
                organization_id: Set(w.organization_id.as_uuid()),
                event_type: Set(event.as_str().to_owned()),
                webhook_id: Set(w.id.as_uuid()),
            })
        })
        .collect();
    while !rows.is_empty() {
        let chunk = rows.split_off(rows.len().saturating_sub(CHUNK));
        subscription::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Replaces the webhook's subscriptions with `events`.
pub(super) async fn resubscribe(
    txn: &impl ConnectionTrait,
    organization: OrganizationId,
    webhook: WebhookId,
    events: &[EventType],
) -> Result<(), sea_orm::DbErr> {
    subscription::Entity::delete_in(organization)
        .filter(subscription::Column::WebhookId.eq(webhook.as_uuid()))
        .exec(txn)
        .await?;
    subscribe(txn, organization, webhook, events).await
}

/// The enabled webhooks of `organization` subscribed to `event_type`,
/// locked shared until the transaction ends.
pub(super) async fn subscribers(
    txn: &impl ConnectionTrait,
    organization: OrganizationId,
    event_type: &EventType,
) -> Result<Vec<webhook::Model>, sea_orm::DbErr> {
    let name = event_type.as_str();
    let mut rows = subscribed(txn.get_database_backend(), organization, name)
        .all(txn)
        .await?;
    // On PostgreSQL a row that a transaction committed while this one
    // waited for its lock is returned as it is now: one whose events no
    // longer name this type is left out.
    rows.retain(|row| {
        row.events
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e.as_str() == Some(name)))
    });
    Ok(rows)
}

/// The statement of [`subscribers`]: one round trip, the subscriptions read
/// in a subquery. Not a join: as one, PostgreSQL misjudges how few of a big
/// organization's webhooks subscribe to a type once it has statistics, and
/// hashes a scan of every webhook. An array of ids is looked up by primary
/// key whatever the plan, generic ones included (as the claim does).
pub(super) fn subscribed(
    backend: DbBackend,
    organization: OrganizationId,
    event_type: &str,
) -> Select<webhook::Entity> {
    let ids = subscription::Entity::find_in(organization)
        .select_only()
        .column(subscription::Column::WebhookId)
        .filter(subscription::Column::EventType.eq(event_type))
        .into_query();
    let find = webhook::Entity::find()
        // A paused webhook gets no new deliveries.
        .filter(webhook::Column::Enabled.eq(true))
        .lock_shared();
    match backend {
        DbBackend::Postgres => {
            let ids = Expr::SubQuery(None, Box::new(ids.into()));
            let id = Expr::col((webhook::Entity, webhook::Column::Id));
            find.filter(Expr::cust_with_exprs("$1 = ANY(ARRAY $2)", [id, ids]))
        }
        _ => find.filter(webhook::Column::Id.in_subquery(ids)),
    }
}
