//! A paused webhook's pending deliveries wait out of the claim path: the
//! transaction that pauses a webhook marks them `paused`, the one that
//! resumes it clears the mark, and the partial indexes that the claims and
//! the backlog gauge read (`claims::CLAIMABLE`) leave marked ones out. So a
//! paused backlog costs nothing while it waits, however large; callers
//! still see those deliveries pending, and the status filter PENDING finds
//! them.
//!
//! Everything else that makes a delivery pending says whether it is
//! paused: RetryDelivery as its webhook is; publishing, SendTestEvent and
//! RecoverWebhook never (they only schedule for a webhook that is not
//! paused). An attempt in flight when the pause commits keeps the mark:
//! retried later, it waits for the resume like the others; ended, the mark
//! means nothing.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, QueryFilter, UpdateMany};

use super::entities::delivery;
use super::scoped::Scoped;
use crate::domain::{OrganizationId, WebhookId};

/// Marks the webhook's pending deliveries paused (`paused`), or clears the
/// mark from every one of its deliveries (a resume, including those that
/// were in flight at the pause). `updated_at` stays: to callers nothing
/// about the deliveries changed.
pub(super) fn pausing(
    organization: OrganizationId,
    webhook: WebhookId,
    paused: bool,
) -> UpdateMany<delivery::Entity> {
    let update = delivery::Entity::update_in(organization)
        .col_expr(delivery::Column::Paused, Expr::value(paused))
        .filter(delivery::Column::WebhookId.eq(webhook.as_uuid()));
    if paused {
        update
            .filter(Expr::cust("status = 'pending'"))
            .filter(delivery::Column::Paused.eq(false))
    } else {
        update.filter(delivery::Column::Paused.eq(true))
    }
}
