//! Use cases: authorize the caller, validate, call the store. No tonic here;
//! the transport maps [`ServiceError`] to gRPC statuses in one place.

mod catalogue;
mod deliveries;
mod event_types;
mod events;
mod group_commit;
mod portal;
mod webhooks;

pub use catalogue::Catalogue;
pub use deliveries::{Deliveries, DeliveryRef, ListDeliveries, StatusFilter};
pub use event_types::{CreateEventType, EventTypes, ListEventTypes, UpdateEventType};
pub use events::{Events, PublishEvent, Publisher};
pub use portal::{CreatePortalLink, PortalLink, PortalLinks};
pub use webhooks::{
    CreateWebhook, FilterVerdict, ListWebhooks, RecoverWebhook, TestWebhookFilter, UpdateWebhook,
    WebhookRef, WebhookRules, Webhooks,
};

use std::borrow::Cow;

use crate::domain::access::{Denied, authorize};
use crate::domain::{Action, Caller, OrganizationId, Violations};
use crate::store::StoreError;

/// A page of results and the token of the next one (`None` on the last).
pub type Listing<T> = (Vec<T>, Option<String>);

/// Why a use case failed, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Some request fields are wrong; each violation names its field.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(Cow<'static, str>),
    /// What the caller asks to create exists already.
    #[error("{0}")]
    AlreadyExists(&'static str),
    /// No such thing in the caller's organization (or anywhere).
    #[error("{0}")]
    NotFound(&'static str),
    /// The thing is not in a state that allows this.
    #[error("{0}")]
    FailedPrecondition(Cow<'static, str>),
    /// A limit of the caller's organization is reached.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A dependency (the database) is down; retrying later may work.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or corrupt data. The cause goes to the log, never to the caller.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<Violations> for ServiceError {
    fn from(v: Violations) -> Self {
        ServiceError::InvalidArgument(v)
    }
}

impl From<Denied> for ServiceError {
    fn from(d: Denied) -> Self {
        ServiceError::PermissionDenied(d.0)
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) | StoreError::Conflict(e) => {
                ServiceError::Unavailable(e.into())
            }
            StoreError::AlreadyExists => {
                ServiceError::Internal(anyhow::anyhow!("unexpected unique key conflict"))
            }
            StoreError::Other(e) => ServiceError::Internal(e),
        }
    }
}

/// Parses the request's organization id and checks that the caller may do
/// `action` there. Runs before anything else, so a caller without rights
/// learns nothing from validation.
fn authorized(
    caller: &Caller,
    action: Action,
    organization_id: &str,
) -> Result<OrganizationId, ServiceError> {
    let organization = parse_field("organization_id", OrganizationId::parse(organization_id))?;
    authorize(caller, action, organization)?;
    Ok(organization)
}

/// Runs `work` to its end even when the caller goes away meanwhile: what
/// follows a commit (handing deliveries to the workers, telling them that a
/// webhook changed) must not be skipped because a client gave up.
async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, ServiceError>> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        Err(ServiceError::Internal(anyhow::anyhow!(
            "a use case panicked: {e}"
        )))
    })
}

/// `result`, or an INVALID_ARGUMENT naming `field`.
fn parse_field<T, E: std::fmt::Display>(
    field: &'static str,
    result: Result<T, E>,
) -> Result<T, ServiceError> {
    let mut violations = Violations::default();
    violations
        .check(field, result)
        .ok_or(ServiceError::InvalidArgument(violations))
}
