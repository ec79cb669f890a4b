//! The event catalogue: every type an organization's webhooks can subscribe
//! to and a service can publish, shared by every organization of the
//! installation, each with an optional JSON Schema for its `data`.

pub mod own;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::event_type::EventType;
use super::schema::{Schema, check_document};
use super::validation::{no_nul, quoted};
use super::webhook::MAX_DESCRIPTION;
use super::{Violations, event};

/// One type of the catalogue, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTypeDef {
    pub name: EventType,
    /// When the event happens, for the people who subscribe.
    pub description: String,
    /// A draft 2020-12 JSON Schema that every published `data` must meet.
    pub schema: Option<Value>,
    /// A `data` value that meets the schema, shown to subscribers.
    pub example: Option<Value>,
    /// Still publishable and subscribable, but on its way out.
    pub deprecated: bool,
    /// No longer publishable nor subscribable; subscriptions stay and get
    /// nothing new.
    pub archived: bool,
    /// One of the types every installation has; see
    /// [`super::event_type::BUILT_IN`].
    pub built_in: bool,
    /// The `sub` of the token that created it (empty for built-in types).
    pub created_by: String,
    /// The `sub` of the token that changed it last.
    pub updated_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A valid request to add a type to the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEventType {
    pub name: EventType,
    pub description: String,
    pub schema: Option<Value>,
    pub example: Option<Value>,
    pub deprecated: bool,
}

/// The most types the catalogue may hold beyond the built-in ones: each is
/// a label value of the publishing metrics and a row every process may
/// cache.
pub const MAX_CUSTOM_TYPES: u64 = 1_000;

impl NewEventType {
    /// Checks every field, reporting all that are wrong.
    pub fn parse(
        name: &str,
        description: &str,
        schema: Option<Value>,
        example: Option<Value>,
        deprecated: bool,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let name = violations.check("name", parse_new_name(name));
        let description = violations.check("description", parse_description(description));
        let compiled = match &schema {
            Some(schema) => violations.check("schema", Schema::compile(schema)),
            None => None,
        };
        if let Some(example) = &example {
            check_example(example, compiled.as_ref(), &mut violations);
        }
        match (name, description) {
            (Some(name), Some(description)) if violations.is_empty() => Ok(Self {
                name,
                description,
                schema,
                example,
                deprecated,
            }),
            _ => Err(violations),
        }
    }
}

/// A name a new type may take: of the right shape and not the one the
/// service keeps for its test deliveries.
fn parse_new_name(name: &str) -> Result<EventType, String> {
    let name = EventType::parse(name).map_err(|e| e.to_string())?;
    if name == EventType::WEBHOOK_PING {
        return Err(format!(
            "{} is kept for the test deliveries of SendTestEvent",
            quoted(name.as_str())
        ));
    }
    Ok(name)
}

fn parse_description(text: &str) -> Result<String, String> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    no_nul(text)?;
    Ok(text.to_owned())
}

/// The example must be what a publisher could send: an object within the
/// limits of `data`, meeting the schema when there is one.
fn check_example(example: &Value, compiled: Option<&Schema>, violations: &mut Violations) {
    if let Err(reason) = check_document(example) {
        violations.add("example", reason);
        return;
    }
    if !example.is_object() {
        violations.add("example", "must be a JSON object, as `data` is");
        return;
    }
    if let Err(reason) = event::check_data(example) {
        violations.add("example", reason);
        return;
    }
    // A schema that did not compile was reported already.
    if let Some(schema) = compiled {
        for (pointer, reason) in schema.errors(example).take(1) {
            violations.add(
                "example",
                format!("does not meet the schema at {pointer:?}: {reason}"),
            );
        }
    }
}

/// The changes an UpdateEventType asks for: `None` leaves a field as it
/// is; `Some(None)` removes a schema or an example.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventTypeChanges {
    pub description: Option<String>,
    pub schema: Option<Option<Value>>,
    pub example: Option<Option<Value>>,
    pub deprecated: Option<bool>,
    pub archived: Option<bool>,
}

/// The fields of an update request; only those named in the mask apply.
pub struct EventTypeFields {
    pub description: String,
    pub schema: Option<Value>,
    pub example: Option<Value>,
    pub deprecated: bool,
    pub archived: bool,
}

/// What an update mask may name.
const UPDATABLE: &str = "description, schema, example, deprecated or archived";

impl EventTypeChanges {
    /// Applies the mask to the request's fields, checking each named field
    /// as on creation (the example against the new schema when both
    /// change; against the stored one is [`EventTypeChanges::apply`]'s job).
    pub fn parse(mask: &[String], fields: EventTypeFields) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let mut changes = Self::default();
        if mask.is_empty() {
            violations.add(
                "update_mask",
                format!("must name at least one of {UPDATABLE}"),
            );
        }
        if mask.len() > super::webhook::MAX_MASK_PATHS {
            violations.add(
                "update_mask",
                format!(
                    "names {} fields; at most {} are accepted",
                    mask.len(),
                    super::webhook::MAX_MASK_PATHS
                ),
            );
            return Err(violations);
        }
        let EventTypeFields {
            description,
            schema,
            example,
            deprecated,
            archived,
        } = fields;
        let (mut schema, mut example) = (Some(schema), Some(example));
        for path in mask {
            match path.as_str() {
                "description" => {
                    changes.description =
                        violations.check("description", parse_description(&description))
                }
                "schema" => {
                    if let Some(schema) = schema.take() {
                        if let Some(given) = &schema {
                            violations.check("schema", Schema::compile(given));
                        }
                        changes.schema = Some(schema);
                    }
                }
                "example" => {
                    if let Some(example) = example.take() {
                        changes.example = Some(example);
                    }
                }
                "deprecated" => changes.deprecated = Some(deprecated),
                "archived" => changes.archived = Some(archived),
                other => violations.add(
                    "update_mask",
                    format!("{} cannot be updated; use {UPDATABLE}", quoted(other)),
                ),
            }
        }
        violations.into_result().map(|()| changes)
    }

    /// Whether the change touches what a publish is checked against.
    pub fn changes_publishing(&self) -> bool {
        self.schema.is_some() || self.archived.is_some()
    }

    /// The type as it is once the changes apply, checked as a whole: a
    /// built-in type keeps its meaning (only `deprecated` may change), and
    /// the example must meet the schema that results.
    pub fn apply(&self, current: &EventTypeDef) -> Result<EventTypeDef, Refused> {
        if current.built_in
            && (self.description.is_some()
                || self.schema.is_some()
                || self.example.is_some()
                || self.archived.is_some())
        {
            return Err(Refused::BuiltIn);
        }
        let mut next = current.clone();
        if let Some(description) = &self.description {
            next.description = description.clone();
        }
        if let Some(schema) = &self.schema {
            next.schema = schema.clone();
        }
        if let Some(example) = &self.example {
            next.example = example.clone();
        }
        if let Some(deprecated) = self.deprecated {
            next.deprecated = deprecated;
        }
        if let Some(archived) = self.archived {
            next.archived = archived;
        }
        if let Some(example) = &next.example {
            let compiled = next.schema.as_ref().and_then(|s| Schema::compile(s).ok());
            let mut violations = Violations::default();
            check_example(example, compiled.as_ref(), &mut violations);
            if !violations.is_empty() {
                return Err(Refused::Invalid(violations));
            }
        }
        Ok(next)
    }
}

/// Why an update cannot apply to the type as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Only `deprecated` of a built-in type may change.
    BuiltIn,
    /// The result would not hold together (an example the schema refuses).
    Invalid(Violations),
}

/// Checks `data` against a type's compiled schema: one violation per
/// error, each naming the JSON pointer into `data` (`data/amount`), the
/// first [`super::validation::MAX_REPORTED`] reported and the rest counted.
pub fn check_published(schema: &Schema, data: &Value) -> Result<(), Violations> {
    if schema.accepts(data) {
        return Ok(());
    }
    let mut violations = Violations::default();
    for (pointer, reason) in schema.errors(data) {
        violations.add(format!("data{pointer}"), reason);
    }
    violations.into_result()
}

#[cfg(test)]
mod tests;
