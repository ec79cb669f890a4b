use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// JSON array of event type names.
    #[sea_orm(column_type = "JsonBinary")]
    pub events: Json,
    /// The signing secret as `SecretBox` sealed it.
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    #[sea_orm(column_type = "Text")]
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// False while paused.
    pub enabled: bool,
    /// JSON list of the secrets before the last rotations, sealed, with when
    /// each stops signing (see `store::rotation`).
    #[sea_orm(column_type = "Text", nullable)]
    pub previous_secrets: Option<String>,
    /// At most this many deliveries a second; 0 means no limit.
    pub rate_limit_per_second: i64,
    /// When the current run of failed deliveries began; NULL after a success.
    pub failing_since: Option<DateTimeUtc>,
    /// Why the service disabled the webhook; NULL unless it did.
    #[sea_orm(column_type = "Text", nullable)]
    pub disabled_reason: Option<String>,
    /// When the service disabled the webhook.
    pub disabled_at: Option<DateTimeUtc>,
    /// The CEL expression choosing which events of its types it gets;
    /// NULL for all of them.
    #[sea_orm(column_type = "Text", nullable)]
    pub filter: Option<String>,
    /// Its deliveries of one ordering key go out one at a time, in publish
    /// order (see `store::sequences`).
    pub ordered: bool,
    /// Its own waits between attempts, in milliseconds, comma-separated;
    /// NULL for the service's default.
    #[sea_orm(column_type = "Text", nullable)]
    pub retry_schedule: Option<String>,
    /// The headers sent with every attempt, JSON (see `store::headers`);
    /// NULL for none.
    #[sea_orm(column_type = "Text", nullable)]
    pub headers: Option<String>,
    /// The client certificate chain it presents to its endpoint, PEM (in
    /// clear: it is public); NULL for none.
    #[sea_orm(column_type = "Text", nullable)]
    pub client_certificate_chain: Option<String>,
    /// That certificate's private key, sealed like the signing secret
    /// (`SecretBox::seal_client_key`); NULL exactly when the chain is.
    #[sea_orm(column_type = "Text", nullable)]
    pub client_certificate_key: Option<String>,
    /// `hmac-sha256` or `ed25519` (see `SignatureScheme::as_stored`).
    #[sea_orm(column_type = "Text")]
    pub signature_scheme: String,
    /// An ed25519 webhook's current public key (`whpk_...`), in clear: it is
    /// no secret. NULL for HMAC.
    #[sea_orm(column_type = "Text", nullable)]
    pub public_key: Option<String>,
    /// Its OAuth2 client credentials but the secret, as JSON (see
    /// `store::oauth2`); NULL for none.
    #[sea_orm(column_type = "Text", nullable)]
    pub oauth2: Option<String>,
    /// The OAuth2 client secret as `SecretBox` sealed it; NULL for none.
    #[sea_orm(column_type = "Text", nullable)]
    pub oauth2_secret: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
