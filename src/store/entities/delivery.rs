use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub webhook_id: Uuid,
    pub organization_id: Uuid,
    /// `pending`, `succeeded`, `failed` or `cancelled`.
    #[sea_orm(column_type = "Text")]
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// Set while a worker holds the delivery; it may be claimed again after.
    pub lease_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Its event's type, copied so the listings filter by it through an
    /// index of the organization's deliveries.
    #[sea_orm(column_type = "Text")]
    pub event_type: String,
    /// Set while pending for a paused webhook: out of the claim path (the
    /// partial indexes of claimable deliveries leave it out) until the
    /// webhook resumes. Means nothing once the delivery is finished.
    pub paused: bool,
    /// The ordering key of its sequence, for a delivery of an ordered
    /// webhook (`""`: the event had none); NULL: in no sequence.
    #[sea_orm(column_type = "Text", nullable)]
    pub ordering_key: Option<String>,
    /// Its place in its sequence (publish order); NULL: in no sequence.
    pub sequence: Option<i64>,
    /// Set while an earlier delivery of its sequence is pending: out of the
    /// claim path (the partial indexes of claimable deliveries leave it
    /// out) until that one ends and this one becomes the head.
    pub behind: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
