//! The one place that decides what a database error means to a caller.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already holds this value.
    #[error("a row with this key already exists")]
    AlreadyExists,
    /// The database cannot be reached now; a retry may succeed.
    #[error("the database is unavailable")]
    Unavailable(#[source] DbErr),
    /// The transaction collided with a concurrent one (a deadlock or a
    /// serialization failure) and was rolled back; running it again works.
    #[error("the transaction collided with another one")]
    Conflict(#[source] DbErr),
    /// Anything else: a bug, corrupt data, a failed query.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return StoreError::AlreadyExists;
        }
        if is_unavailable(&err) {
            return StoreError::Unavailable(err);
        }
        if is_conflict(&err) {
            return StoreError::Conflict(err);
        }
        StoreError::Other(err.into())
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed => true,
                Sqlx::Database(db) => db.code().is_some_and(|code| {
                    // PostgreSQL: connection exceptions, shutting down, starting up.
                    code.starts_with("08") || code == "57P01" || code == "57P03"
                }),
                _ => false,
            }
        }
        _ => false,
    }
}

/// PostgreSQL's deadlock_detected and serialization_failure.
fn is_conflict(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), Sqlx::Database(db) if db.code().is_some_and(|c| c == "40P01" || c == "40001"))
        }
        _ => false,
    }
}
