use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub event_type: String,
    /// The exact bytes every delivery sends (compact JSON).
    #[sea_orm(column_type = "Text")]
    pub body: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
    /// The publisher's W3C trace context (`TraceContext::to_stored`).
    #[sea_orm(column_type = "Text", nullable)]
    pub trace_context: Option<String>,
    /// How many of its deliveries are left: set when it is published,
    /// lowered as retention deletes them; NULL when not counted (migration
    /// 24).
    pub deliveries_left: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
