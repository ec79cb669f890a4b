//! The one mapping from service errors to gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::service::ServiceError;

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidArgument(violations) => {
                let message = format!("invalid request: {violations}");
                // Those not reported are counted in a violation of the
                // request as a whole, as in the message.
                let note = violations
                    .omitted_note()
                    .map(|note| FieldViolation::new("", note));
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_reported()
                        .into_iter()
                        .map(|v| FieldViolation::new(v.field, v.description))
                        .chain(note)
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ServiceError::PermissionDenied(message) => Status::permission_denied(message),
            ServiceError::AlreadyExists(message) => Status::already_exists(message),
            ServiceError::NotFound(message) => Status::not_found(message),
            ServiceError::FailedPrecondition(message) => Status::failed_precondition(message),
            ServiceError::ResourceExhausted(message) => Status::resource_exhausted(message),
            ServiceError::Unavailable(cause) => {
                tracing::error!(error = ?cause, "database unavailable");
                Status::unavailable("the database is unavailable; try again later")
            }
            ServiceError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Status::internal("internal error")
            }
        }
    }
}
