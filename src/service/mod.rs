//! Use cases: authorize the caller, validate, call the store. No tonic here;
//! the transport maps [`ServiceError`] to gRPC statuses in one place.

mod events;
mod webhooks;

pub use events::{Events, PublishEvent, Publisher};
pub use webhooks::{CreateWebhook, Webhooks};

use crate::domain::Violations;
use crate::domain::access::Denied;
use crate::store::StoreError;

/// Why a use case failed, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Some request fields are wrong; each violation names its field.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(&'static str),
    /// What the caller asks to create exists already.
    #[error("{0}")]
    AlreadyExists(&'static str),
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
            StoreError::Unavailable(e) => ServiceError::Unavailable(e.into()),
            StoreError::AlreadyExists => {
                ServiceError::Internal(anyhow::anyhow!("unexpected unique key conflict"))
            }
            StoreError::Other(e) => ServiceError::Internal(e),
        }
    }
}
