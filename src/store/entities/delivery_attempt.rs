use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub delivery_id: Uuid,
    /// 1-based.
    pub attempt: i32,
    pub started_at: DateTimeUtc,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    /// `http_status`, `timeout`, `connect`, `blocked` or `request`.
    #[sea_orm(column_type = "Text", nullable)]
    pub error_kind: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    /// The first 4 KiB of the response body.
    #[sea_orm(column_type = "Text", nullable)]
    pub response_excerpt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
