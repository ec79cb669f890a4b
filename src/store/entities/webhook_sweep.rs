use sea_orm::entity::prelude::*;

/// A webhook paused, resumed, deleted or disabled with more deliveries to
/// mark, unmark or cancel than its own transaction did (see
/// `store::sweeps`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_sweeps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub webhook_id: Uuid,
    pub organization_id: Uuid,
    /// The last delivery id brought in line, in id order; `None`: none yet.
    pub after: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
