use sea_orm::entity::prelude::*;

/// A webhook subscribed to one event type: the index publishing reads to
/// find an organization's subscribers of a type. The rows follow the
/// webhook's `events`, written in the transactions that set them, and go
/// with the webhook (the foreign key cascades).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub event_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub webhook_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
