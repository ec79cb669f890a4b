use sea_orm::entity::prelude::*;

/// One type of the event catalogue (see `store::event_types`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_types")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// The JSON Schema of `data`, as JSON text.
    #[sea_orm(column_type = "Text", nullable)]
    pub schema: Option<String>,
    /// An example `data`, as JSON text.
    #[sea_orm(column_type = "Text", nullable)]
    pub example: Option<String>,
    pub deprecated: bool,
    pub archived: bool,
    pub built_in: bool,
    #[sea_orm(column_type = "Text")]
    pub created_by: String,
    #[sea_orm(column_type = "Text")]
    pub updated_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
