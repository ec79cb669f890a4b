//! The business vocabulary: organizations, webhooks, event types, callers and
//! their rights. Nothing here knows about gRPC or the database.

pub mod access;
pub mod caller;
pub mod catalogue;
pub mod client_certificate;
pub mod clock;
pub mod created_range;
pub mod delivery;
pub mod error_summary;
pub mod event;
pub mod event_type;
pub mod filter;
pub mod headers;
pub mod ids;
pub mod labels;
pub mod network;
pub mod oauth2;
pub mod ordering;
pub mod page;
pub mod portal;
pub mod retry_schedule;
pub mod schema;
pub mod secret;
pub mod signature_scheme;
pub mod trace_context;
pub mod validation;
pub mod webhook;
pub mod webhook_changes;
pub mod webhook_url;

pub use access::Action;
pub use caller::{Caller, Credential, Membership, Role};
pub use catalogue::{EventTypeChanges, EventTypeDef, EventTypeFields, NewEventType};
pub use client_certificate::{
    ClientCertificate, ClientCertificateInfo, ClientCertificateInput, ClientIdentity,
};
pub use created_range::CreatedRange;
pub use delivery::{Attempt, Delivery, DeliveryStatus, WebhookStats};
pub use event::{Event, NewEvent};
pub use event_type::EventType;
pub use filter::{EvalError, EventView, Filter, FilterCache, FilterError};
pub use ids::{DeliveryId, EventId, OrganizationId, WebhookId};
pub use oauth2::{OAuth2Credentials, OAuth2Fields, OAuth2Settings, OAuth2Write};
pub use ordering::{Ordering, OrderingKey};
pub use page::Page;
pub use portal::LinkLifetime;
pub use retry_schedule::RetrySchedule;
pub use secret::{PublicKey, SigningSecret};
pub use signature_scheme::SignatureScheme;
pub use trace_context::TraceContext;
pub use validation::{FieldViolation, Violations};
pub use webhook::{Disabled, NewWebhook, Stopped, UpdateFields, Webhook, WebhookChanges};
pub use webhook_url::WebhookUrl;
