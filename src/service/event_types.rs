//! Reading and writing the event catalogue.

use serde_json::Value;

use super::catalogue::Catalogue;
use super::{Listing, ServiceError, parse_field};
use crate::domain::access::authorize_early;
use crate::domain::catalogue::{MAX_CUSTOM_TYPES, Refused};
use crate::domain::page::NamePage;
use crate::domain::{
    Action, Caller, EventType, EventTypeChanges, EventTypeDef, EventTypeFields, NewEventType,
};
use crate::store::{CreateError, UpdateError};

const KIND: &str = "event_types";
const NOT_FOUND: &str = "no such event type";

/// A request to add a type, not yet validated.
#[derive(Debug, Clone)]
pub struct CreateEventType {
    pub name: String,
    pub description: String,
    pub schema: Option<Value>,
    pub example: Option<Value>,
    pub deprecated: bool,
}

/// A request to change the fields of a type named in `mask`.
#[derive(Debug, Clone)]
pub struct UpdateEventType {
    pub name: String,
    pub description: String,
    pub schema: Option<Value>,
    pub example: Option<Value>,
    pub deprecated: bool,
    pub archived: bool,
    pub mask: Vec<String>,
}

/// Asks for a page of the catalogue.
#[derive(Debug, Clone)]
pub struct ListEventTypes {
    pub page_size: i32,
    pub page_token: String,
    pub include_archived: bool,
}

/// The catalogue use cases.
#[derive(Clone)]
pub struct EventTypes {
    catalogue: Catalogue,
}

impl EventTypes {
    pub fn new(catalogue: Catalogue) -> Self {
        Self { catalogue }
    }

    pub async fn create(
        &self,
        caller: &Caller,
        request: CreateEventType,
    ) -> Result<EventTypeDef, ServiceError> {
        authorize_early(caller, Action::CreateEventType, None)?;
        let new = NewEventType::parse(
            &request.name,
            &request.description,
            request.schema,
            request.example,
            request.deprecated,
        )?;
        let created = self
            .catalogue
            .store()
            .create_event_type(&new, &caller.subject)
            .await
            .map_err(|e| match e {
                CreateError::Exists => {
                    ServiceError::AlreadyExists("an event type of this name exists")
                }
                CreateError::Full => ServiceError::ResourceExhausted(format!(
                    "the catalogue already holds {MAX_CUSTOM_TYPES} event types besides \
                     the built-in ones"
                )),
                CreateError::Store(e) => e.into(),
            })?;
        self.catalogue.forget(&created.name);
        tracing::info!(event_type = %created.name, by = %caller.subject, "event type created");
        Ok(created)
    }

    pub async fn get(&self, caller: &Caller, name: &str) -> Result<EventTypeDef, ServiceError> {
        authorize_early(caller, Action::GetEventType, None)?;
        let name = parse_field("name", EventType::parse(name))?;
        self.catalogue
            .store()
            .get_event_type(name.as_str())
            .await?
            .ok_or(ServiceError::NotFound(NOT_FOUND))
    }

    pub async fn update(
        &self,
        caller: &Caller,
        request: UpdateEventType,
    ) -> Result<EventTypeDef, ServiceError> {
        authorize_early(caller, Action::UpdateEventType, None)?;
        let name = parse_field("name", EventType::parse(&request.name))?;
        let changes = EventTypeChanges::parse(
            &request.mask,
            EventTypeFields {
                description: request.description,
                schema: request.schema,
                example: request.example,
                deprecated: request.deprecated,
                archived: request.archived,
            },
        )?;
        let updated = self
            .catalogue
            .store()
            .update_event_type(&name, &changes, &caller.subject)
            .await
            .map_err(|e| match e {
                UpdateError::NotFound => ServiceError::NotFound(NOT_FOUND),
                UpdateError::Refused(Refused::BuiltIn) => ServiceError::FailedPrecondition(
                    "a built-in event type keeps its description, schema and example, and \
                     cannot be archived; only `deprecated` changes"
                        .into(),
                ),
                UpdateError::Refused(Refused::Invalid(violations)) => {
                    ServiceError::InvalidArgument(violations)
                }
                UpdateError::Store(e) => e.into(),
            })?;
        self.catalogue.forget(&name);
        tracing::info!(
            event_type = %name,
            by = %caller.subject,
            mask = ?request.mask,
            "event type updated"
        );
        Ok(updated)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        request: ListEventTypes,
    ) -> Result<Listing<EventTypeDef>, ServiceError> {
        authorize_early(caller, Action::ListEventTypes, None)?;
        let page = NamePage::parse(KIND, request.page_size, &request.page_token)?;
        let (types, more) = self
            .catalogue
            .store()
            .list_event_types(&page, request.include_archived)
            .await?;
        let next = types
            .last()
            .filter(|_| more)
            .map(|t| NamePage::token(KIND, t.name.as_str()));
        Ok((types, next))
    }
}
