//! The event catalogue's rows, and telling every process that a type
//! changed: its schema is compiled and cached by each (see
//! `service::catalogue`), so a change commits with a NOTIFY on PostgreSQL,
//! as webhook changes do (`store::changes`).

use anyhow::Context;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};

use super::changes::lost;
use super::entities::event_type;
use super::webhooks::now;
use super::{Store, StoreError};
use crate::domain::catalogue::{EventTypeDef, MAX_CUSTOM_TYPES, NewEventType, Refused};
use crate::domain::page::NamePage;
use crate::domain::{EventType, EventTypeChanges};

/// The channel carrying the names of changed event types.
const CHANNEL: &str = "event_type_changed";

/// Why a type could not be added.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("an event type of this name exists")]
    Exists,
    #[error("the catalogue holds {MAX_CUSTOM_TYPES} types besides the built-in ones")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a type could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no such event type")]
    NotFound,
    #[error("the change does not apply to the type as it is")]
    Refused(Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for CreateError {
    fn from(err: sea_orm::DbErr) -> Self {
        CreateError::Store(err.into())
    }
}

impl From<sea_orm::DbErr> for UpdateError {
    fn from(err: sea_orm::DbErr) -> Self {
        UpdateError::Store(err.into())
    }
}

impl Store {
    /// One type of the catalogue, archived or not.
    pub async fn get_event_type(&self, name: &str) -> Result<Option<EventTypeDef>, StoreError> {
        let row = event_type::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?;
        Ok(row.map(to_domain).transpose()?)
    }

    /// A page of the catalogue in name order, archived types only when
    /// asked, and whether more follow.
    pub async fn list_event_types(
        &self,
        page: &NamePage,
        include_archived: bool,
    ) -> Result<(Vec<EventTypeDef>, bool), StoreError> {
        let mut query = event_type::Entity::find();
        if let Some(after) = &page.after {
            query = query.filter(event_type::Column::Name.gt(after.as_str()));
        }
        if !include_archived {
            query = query.filter(event_type::Column::Archived.eq(false));
        }
        let mut rows = query
            .order_by_asc(event_type::Column::Name)
            .limit(page.size + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > page.size;
        rows.truncate(page.size as usize);
        let types = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok((types, more))
    }

    /// The types among `names` that the catalogue holds and has not
    /// archived: what a webhook may subscribe to.
    pub async fn subscribable(&self, names: &[EventType]) -> Result<Vec<EventType>, StoreError> {
        let rows: Vec<String> = event_type::Entity::find()
            .select_only()
            .column(event_type::Column::Name)
            .filter(event_type::Column::Name.is_in(names.iter().map(EventType::as_str)))
            .filter(event_type::Column::Archived.eq(false))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(names
            .iter()
            .filter(|n| rows.iter().any(|r| r == n.as_str()))
            .cloned()
            .collect())
    }

    /// Adds a type, recording `by` as its author.
    pub async fn create_event_type(
        &self,
        new: &NewEventType,
        by: &str,
    ) -> Result<EventTypeDef, CreateError> {
        let txn = self.write_transaction().await?;
        let custom = event_type::Entity::find()
            .filter(event_type::Column::BuiltIn.eq(false))
            .count(&txn)
            .await?;
        if custom >= MAX_CUSTOM_TYPES {
            return Err(CreateError::Full);
        }
        let at = now();
        let row = event_type::ActiveModel {
            name: Set(new.name.as_str().to_owned()),
            description: Set(new.description.clone()),
            schema: Set(new.schema.as_ref().map(to_text)),
            example: Set(new.example.as_ref().map(to_text)),
            deprecated: Set(new.deprecated),
            archived: Set(false),
            built_in: Set(false),
            created_by: Set(by.to_owned()),
            updated_by: Set(by.to_owned()),
            created_at: Set(at),
            updated_at: Set(at),
        };
        let row = match row.insert(&txn).await.map_err(StoreError::from) {
            Ok(row) => row,
            Err(StoreError::AlreadyExists) => return Err(CreateError::Exists),
            Err(err) => return Err(err.into()),
        };
        // A process may have cached that no such type exists.
        self.announce_type_change(&txn, &new.name).await?;
        txn.commit().await?;
        Ok(to_domain(row).map_err(StoreError::from)?)
    }

    /// Applies `changes` to the type as it is, by `by`, and tells every
    /// process. Concurrent updates of one type apply one after the other.
    pub async fn update_event_type(
        &self,
        name: &EventType,
        changes: &EventTypeChanges,
        by: &str,
    ) -> Result<EventTypeDef, UpdateError> {
        let txn = if self.is_sqlite() {
            self.write_transaction().await?
        } else {
            // Plain BEGIN: the row lock below orders the updates.
            self.statements.write_transaction_begun();
            self.db.begin().await?
        };
        let mut query = event_type::Entity::find_by_id(name.as_str().to_owned());
        if !self.is_sqlite() {
            query = query.lock_exclusive();
        }
        let Some(row) = query.one(&txn).await? else {
            return Err(UpdateError::NotFound);
        };
        let current = to_domain(row.clone()).map_err(StoreError::from)?;
        let next = changes.apply(&current).map_err(UpdateError::Refused)?;
        let mut active = row.into_active_model();
        active.description = Set(next.description.clone());
        active.schema = Set(next.schema.as_ref().map(to_text));
        active.example = Set(next.example.as_ref().map(to_text));
        active.deprecated = Set(next.deprecated);
        active.archived = Set(next.archived);
        active.updated_by = Set(by.to_owned());
        active.updated_at = Set(now());
        let row = active.update(&txn).await?;
        self.announce_type_change(&txn, name).await?;
        txn.commit().await?;
        Ok(to_domain(row).map_err(StoreError::from)?)
    }

    /// Queues, for when `txn` commits, a note to every process that this
    /// type changed. Only PostgreSQL has other processes.
    async fn announce_type_change(
        &self,
        txn: &impl ConnectionTrait,
        name: &EventType,
    ) -> Result<(), StoreError> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), name.as_str().into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// Listens for the catalogue changes every process commits; `None` on
    /// SQLite, where this process is the only one.
    pub async fn listen_for_type_changes(&self) -> Result<Option<TypeChangeListener>, StoreError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let pool = self.db.get_postgres_connection_pool();
        let mut listener = PgListener::connect_with(pool).await.map_err(lost)?;
        listener.listen(CHANNEL).await.map_err(lost)?;
        Ok(Some(TypeChangeListener(listener)))
    }
}

/// What a catalogue listener heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeChange {
    /// This type changed (or was created).
    Named(String),
    /// The connection was lost, so changes may have been missed.
    Unknown,
}

/// Hears the catalogue changes other processes commit.
pub struct TypeChangeListener(PgListener);

impl TypeChangeListener {
    /// The next change. Reconnects by itself after a lost connection,
    /// reporting [`TypeChange::Unknown`] first.
    pub async fn next(&mut self) -> Result<TypeChange, StoreError> {
        match self.0.try_recv().await.map_err(lost)? {
            Some(notification) => Ok(TypeChange::Named(notification.payload().to_owned())),
            None => Ok(TypeChange::Unknown),
        }
    }
}

fn to_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn to_domain(row: event_type::Model) -> anyhow::Result<EventTypeDef> {
    let json = |text: Option<String>, what: &str| {
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .with_context(|| format!("event type {}: stored {what} is not JSON", row.name))
    };
    Ok(EventTypeDef {
        name: EventType::parse(&row.name)
            .with_context(|| format!("stored event type name {:?}", row.name))?,
        description: row.description.clone(),
        schema: json(row.schema.clone(), "schema")?,
        example: json(row.example.clone(), "example")?,
        deprecated: row.deprecated,
        archived: row.archived,
        built_in: row.built_in,
        created_by: row.created_by,
        updated_by: row.updated_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
