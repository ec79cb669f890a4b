//! The event catalogue's RPCs as one-line calls, the token that may write
//! it, and the `invoice.paid` type the catalogue tests share.

use webhook_service::grpc::proto::{
    CreateEventTypeRequest, EventTypeInfo, GetEventTypeRequest, ListEventTypesRequest,
    ListEventTypesResponse, UpdateEventTypeRequest,
};

use super::*;

/// The `sub` of [`catalogue_token`].
pub const CATALOGUE_WRITER: &str = "catalogue-admin";

/// A token holding the `event-types:write` scope, and nothing else.
pub fn catalogue_token() -> String {
    service_token(CATALOGUE_WRITER, "event-types:write", 3600)
}

/// The schema of `invoice.paid`: an amount in whole cents, never negative,
/// a currency of two, when it was paid, and who paid it.
pub fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {"type": "integer", "minimum": 0},
            "currency": {"enum": ["EUR", "USD"]},
            "paid_at": {"type": "string", "format": "date-time"},
            "customer": {
                "type": "object",
                "properties": {"first_name": {"type": "string"}}
            }
        }
    })
}

/// A `data` that meets [`invoice_schema`].
pub fn invoice_example() -> Value {
    json!({
        "amount": 1200,
        "currency": "EUR",
        "paid_at": "2026-03-01T10:00:00Z",
        "customer": {"first_name": "Ada"}
    })
}

/// A create request for `name` with `schema` and `example`.
pub fn new_event_type(
    name: &str,
    schema: Option<Value>,
    example: Option<Value>,
) -> CreateEventTypeRequest {
    CreateEventTypeRequest {
        name: name.to_owned(),
        description: format!("{name} happened."),
        schema: schema.map(to_struct),
        example: example.map(to_struct),
        deprecated: false,
    }
}

impl TestApp {
    /// CreateEventType with `token`.
    pub async fn create_event_type_as(
        &self,
        token: &str,
        request: CreateEventTypeRequest,
    ) -> Result<EventTypeInfo, Status> {
        self.webhooks()
            .await
            .create_event_type(authorized(request, token))
            .await
            .map(|r| r.into_inner())
    }

    /// CreateEventType with [`catalogue_token`].
    pub async fn create_event_type(
        &self,
        request: CreateEventTypeRequest,
    ) -> Result<EventTypeInfo, Status> {
        self.create_event_type_as(&catalogue_token(), request).await
    }

    /// `invoice.paid` with [`invoice_schema`] and [`invoice_example`].
    pub async fn create_invoice_paid(&self) -> EventTypeInfo {
        let request = new_event_type(
            "invoice.paid",
            Some(invoice_schema()),
            Some(invoice_example()),
        );
        self.create_event_type(request)
            .await
            .expect("create invoice.paid")
    }

    /// UpdateEventType with `token`.
    pub async fn update_event_type_as(
        &self,
        token: &str,
        request: UpdateEventTypeRequest,
    ) -> Result<EventTypeInfo, Status> {
        self.webhooks()
            .await
            .update_event_type(authorized(request, token))
            .await
            .map(|r| r.into_inner())
    }

    /// UpdateEventType with [`catalogue_token`].
    pub async fn update_event_type(
        &self,
        request: UpdateEventTypeRequest,
    ) -> Result<EventTypeInfo, Status> {
        self.update_event_type_as(&catalogue_token(), request).await
    }

    /// Sets `name`'s schema to `schema` (`None` removes it).
    pub async fn set_schema(&self, name: &str, schema: Option<Value>) -> EventTypeInfo {
        self.update_event_type(UpdateEventTypeRequest {
            name: name.to_owned(),
            schema: schema.map(to_struct),
            update_mask: field_mask(&["schema"]),
            ..Default::default()
        })
        .await
        .expect("update the schema")
    }

    /// Archives `name`.
    pub async fn archive_event_type(&self, name: &str) -> EventTypeInfo {
        let archived = self
            .update_event_type(UpdateEventTypeRequest {
                name: name.to_owned(),
                archived: true,
                update_mask: field_mask(&["archived"]),
                ..Default::default()
            })
            .await
            .expect("archive");
        assert!(archived.archived, "{archived:?}");
        archived
    }

    /// GetEventType with `token`.
    pub async fn get_event_type_as(
        &self,
        token: &str,
        name: &str,
    ) -> Result<EventTypeInfo, Status> {
        let request = GetEventTypeRequest {
            name: name.to_owned(),
        };
        self.webhooks()
            .await
            .get_event_type(authorized(request, token))
            .await
            .map(|r| r.into_inner())
    }

    /// ListEventTypes with `token`.
    pub async fn list_event_types_as(
        &self,
        token: &str,
        request: ListEventTypesRequest,
    ) -> Result<ListEventTypesResponse, Status> {
        self.webhooks()
            .await
            .list_event_types(authorized(request, token))
            .await
            .map(|r| r.into_inner())
    }

    /// The names of the whole catalogue, one page of 200 as a MEMBER.
    pub async fn event_type_names(&self, include_archived: bool) -> Vec<String> {
        let request = ListEventTypesRequest {
            page_size: 200,
            include_archived,
            ..Default::default()
        };
        let listed = self
            .list_event_types_as(&self.token("MEMBER"), request)
            .await
            .expect("list event types");
        assert!(listed.next_page_token.is_empty(), "more than one page");
        listed.event_types.into_iter().map(|t| t.name).collect()
    }

    /// How many events of `event_type` are stored.
    pub async fn events_of_type(&self, event_type: &str) -> i64 {
        let sql = format!("SELECT count(*) AS n FROM events WHERE event_type = '{event_type}'");
        self.query(&sql).await[0].try_get("", "n").unwrap()
    }
}

/// The `(field, description)` pairs of an INVALID_ARGUMENT's BadRequest,
/// in the order given.
pub fn violations(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest detail in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

/// The fields of [`violations`], sorted.
pub fn violated_fields(status: &Status) -> Vec<String> {
    let mut fields: Vec<String> = violations(status).into_iter().map(|(f, _)| f).collect();
    fields.sort();
    fields
}

/// A Struct read back as JSON, whole numbers without a fraction (as the
/// service reads them, and as a test writes them).
pub fn from_struct(value: &pbjson_types::Struct) -> Value {
    fn whole(value: Value) -> Value {
        match value {
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => json!(f as i64),
                _ => Value::Number(n),
            },
            Value::Array(items) => Value::Array(items.into_iter().map(whole).collect()),
            Value::Object(fields) => {
                Value::Object(fields.into_iter().map(|(k, v)| (k, whole(v))).collect())
            }
            other => other,
        }
    }
    whole(serde_json::to_value(value).expect("a Struct serializes"))
}
