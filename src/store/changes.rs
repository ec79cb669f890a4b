//! Telling every process that a webhook changed. Workers hold deliveries
//! with the webhook's settings as they were read (URL, secrets); after an
//! update, a rotation or a delete commits, those copies are stale. In this
//! process the service says so directly; PostgreSQL's NOTIFY, sent in the
//! changing transaction, reaches the other processes sharing the database.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbBackend};

use super::{Store, StoreError};
use crate::domain::WebhookId;

/// The channel carrying the ids of changed webhooks.
const CHANNEL: &str = "webhook_changed";

/// What a listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This webhook changed.
    Webhook(WebhookId),
    /// The connection was lost, so changes may have been missed: anything
    /// may have changed.
    Unknown,
}

/// Hears the changes other processes commit.
pub struct ChangeListener(PgListener);

impl ChangeListener {
    /// The next change. Reconnects by itself after a lost connection,
    /// reporting [`Change::Unknown`] first.
    pub async fn next(&mut self) -> Result<Change, StoreError> {
        loop {
            let heard = self.0.try_recv().await.map_err(lost)?;
            let Some(notification) = heard else {
                return Ok(Change::Unknown);
            };
            match WebhookId::parse(notification.payload()) {
                Ok(id) => return Ok(Change::Webhook(id)),
                Err(_) => tracing::warn!(
                    payload = notification.payload(),
                    "unexpected change notification"
                ),
            }
        }
    }
}

impl Store {
    /// Queues, for when `txn` commits, a note to every process that this
    /// webhook changed. Only PostgreSQL has other processes.
    pub(super) async fn announce_change(
        &self,
        txn: &impl ConnectionTrait,
        id: WebhookId,
    ) -> Result<(), StoreError> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            // A UUID: nothing to escape.
            txn.execute_unprepared(&format!("NOTIFY {CHANNEL}, '{id}'"))
                .await?;
        }
        Ok(())
    }

    /// Listens for the changes every process commits; `None` on SQLite,
    /// where this process is the only one.
    pub async fn listen_for_changes(&self) -> Result<Option<ChangeListener>, StoreError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let pool = self.db.get_postgres_connection_pool();
        let mut listener = PgListener::connect_with(pool).await.map_err(lost)?;
        listener.listen(CHANNEL).await.map_err(lost)?;
        Ok(Some(ChangeListener(listener)))
    }
}

/// A listener's failure: its connection, so the database is unavailable.
pub(super) fn lost(err: sea_orm::sqlx::Error) -> StoreError {
    sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(err))).into()
}
