//! Queries that cannot forget the organization: every read or write of an
//! organization's rows starts from one of these, so a foreign id finds
//! nothing, exactly like a missing one.

use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

use super::entities::{delivery, event, subscription, webhook};
use crate::domain::OrganizationId;

pub(super) trait Scoped: EntityTrait {
    fn organization_column() -> Self::Column;

    fn find_in(organization: OrganizationId) -> Select<Self> {
        Self::find().filter(Self::organization_column().eq(organization.as_uuid()))
    }

    fn update_in(organization: OrganizationId) -> UpdateMany<Self> {
        Self::update_many().filter(Self::organization_column().eq(organization.as_uuid()))
    }

    fn delete_in(organization: OrganizationId) -> DeleteMany<Self> {
        Self::delete_many().filter(Self::organization_column().eq(organization.as_uuid()))
    }
}

impl Scoped for webhook::Entity {
    fn organization_column() -> webhook::Column {
        webhook::Column::OrganizationId
    }
}

impl Scoped for delivery::Entity {
    fn organization_column() -> delivery::Column {
        delivery::Column::OrganizationId
    }
}

impl Scoped for event::Entity {
    fn organization_column() -> event::Column {
        event::Column::OrganizationId
    }
}

impl Scoped for subscription::Entity {
    fn organization_column() -> subscription::Column {
        subscription::Column::OrganizationId
    }
}
