//! The OpenAPI 3.1 document of the REST face, written from the route table
//! (the routes the router serves) and the descriptors (messages, fields,
//! comments, and the status codes each RPC's comment lists), with the
//! facts the descriptors lack (`facts`).

mod facts;
mod schemas;

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};
use tonic::Code;

use self::facts::{REQUIRED_IN_REQUESTS, short_name};
use self::schemas::Schemas;
use super::descriptor::{Descriptors, MessageShape, descriptors};
use super::errors::{DETAIL_TYPES, http_status};
use super::routes::{Input, OPENAPI_PATH, ROUTES, Route};

/// What `GET /v1/openapi.json` answers: the document whose server is
/// `public_url` (WEBHOOK_PUBLIC_URL), or `/` (wherever the document was
/// fetched from) without one; serialized once.
pub fn serve(
    public_url: Option<&str>,
) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    let bytes =
        Bytes::from(serde_json::to_vec_pretty(&document(public_url)).expect("JSON serializes"));
    move || {
        let json = HeaderValue::from_static("application/json");
        std::future::ready(([(CONTENT_TYPE, json)], bytes.clone()).into_response())
    }
}

/// The error shape's component.
const ERROR: &str = "google.rpc.Status";

/// The OpenAPI document, its server at `public_url`, or at `/` without one.
pub fn document(public_url: Option<&str>) -> Value {
    let descriptors = descriptors();
    let mut schemas = Schemas::new(descriptors);
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for route in &ROUTES {
        let operation = operation(route, descriptors, &mut schemas);
        let method = route.method.as_str().to_ascii_lowercase();
        paths
            .entry(route.path)
            .or_default()
            .insert(method, operation);
    }
    paths.entry(OPENAPI_PATH).or_default().insert(
        "get".into(),
        json!({
            "operationId": "getOpenApiDocument",
            "summary": "This document.",
            "security": [],
            "responses": {"200": {
                "description": "The OpenAPI 3.1 document of the REST API.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }},
        }),
    );
    for detail in DETAIL_TYPES {
        schemas.refer(detail);
    }
    let mut components = schemas.components();
    error_details(
        components
            .get_mut(&short_name(ERROR))
            .expect("the error shape is referred to"),
    );
    let tags: Vec<Value> = ["webhooks.v1.WebhookService", "webhooks.v1.EventService"]
        .iter()
        .map(|service| json!({"name": short(service), "description": descriptors.services[*service]}))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "webhook-service",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{
            "url": public_url.unwrap_or("/"),
            "description": "This service (WEBHOOK_PUBLIC_URL, or where this document was fetched from).",
        }],
        "tags": tags,
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
            }},
            "schemas": components,
        },
    })
}

const DESCRIPTION: &str = "The REST/JSON face of the gRPC API `webhooks.v1`: each route calls one \
RPC with the same token, checks and answers. Bodies are the proto messages in the proto3 JSON \
mapping (camelCase names, enums by name, timestamps in RFC 3339, fields at their default value \
left out). Errors are a `google.rpc.Status` with the gRPC code, a message and details such as \
`google.rpc.BadRequest`.";

fn operation(route: &Route, descriptors: &Descriptors, schemas: &mut Schemas<'_>) -> Value {
    let method = &descriptors.methods[&route.method_name()];
    let input = descriptors.message(&method.input);
    let path_fields: Vec<&str> = route.path_fields().collect();
    let mut parameters: Vec<Value> = path_fields
        .iter()
        .map(|name| {
            let field = input.fields.iter().find(|f| f.json_name == *name);
            let field = field.expect("a path field is a request field");
            parameter(name, "path", true, schemas.field(&method.input, field))
        })
        .collect();
    let not_in_path = || {
        input
            .fields
            .iter()
            .filter(|f| !path_fields.contains(&f.json_name.as_str()))
    };
    let in_query: Vec<_> = match route.input {
        Input::Query => not_in_path().collect(),
        Input::Body { also_in_query } => not_in_path()
            .filter(|f| also_in_query.contains(&f.json_name.as_str()))
            .collect(),
    };
    for field in in_query {
        let schema = schemas.field(&method.input, field);
        parameters.push(parameter(&field.json_name, "query", false, schema));
    }
    let mut operation = json!({
        "operationId": operation_id(route.rpc),
        "tags": [short(route.service)],
        "summary": summary(&method.comment),
        "description": method.comment,
        "x-grpc-method": route.grpc_path(),
        "parameters": parameters,
        "responses": responses(route, &method.comment, &method.output, schemas),
    });
    if let Input::Body { .. } = route.input {
        operation["requestBody"] = request_body(route, input, &path_fields, schemas);
    }
    operation
}

/// A parameter, its description moved out of its schema.
fn parameter(name: &str, place: &str, required: bool, mut schema: Value) -> Value {
    let description = schema
        .as_object_mut()
        .and_then(|s| s.remove("description"))
        .unwrap_or_default();
    json!({
        "name": name,
        "in": place,
        "required": required,
        "schema": schema,
        "description": description,
    })
}

/// `CreateWebhook` → `createWebhook`: generators make `create_webhook`,
/// `createWebhook` or `CreateWebhook` of it, as their language likes.
fn operation_id(rpc: &str) -> String {
    let mut chars = rpc.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

fn request_body(
    route: &Route,
    input: &MessageShape,
    path_fields: &[&str],
    schemas: &mut Schemas<'_>,
) -> Value {
    let fields: Vec<_> = input
        .fields
        .iter()
        .filter(|f| !path_fields.contains(&f.json_name.as_str()))
        .collect();
    let message = &descriptors().methods[&route.method_name()].input;
    let description =
        format!("The fields of `{message}` that are not in the path; any other field is refused.");
    let required = facts::listed(&REQUIRED_IN_REQUESTS, message);
    let schema = schemas.object(
        message,
        &description,
        fields.iter().copied(),
        required,
        true,
    );
    json!({
        "required": !fields.is_empty(),
        "content": {"application/json": {"schema": schema}},
    })
}

/// The success answer, and an error answer for each HTTP status that the
/// gRPC codes listed in the RPC's comment map to.
fn responses(route: &Route, comment: &str, output: &str, schemas: &mut Schemas<'_>) -> Value {
    let mut responses = Map::new();
    responses.insert(
        route.success.as_u16().to_string(),
        json!({
            "description": format!("The `{output}`."),
            "content": {"application/json": {"schema": schemas.message(output)}},
        }),
    );
    // Any request may be malformed or lack a valid token.
    let mut codes = vec![Code::InvalidArgument, Code::Unauthenticated];
    codes.extend(listed_codes(comment));
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for code in codes {
        let names = by_status.entry(http_status(code).as_u16()).or_default();
        let name = code_name(code);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let error = schemas.refer(ERROR);
    // The REST face answers it itself, for any route.
    by_status.insert(413, vec!["RESOURCE_EXHAUSTED: the body is over 1 MiB, or the message it makes over the RPC's cap"]);
    for (status, names) in by_status {
        responses.insert(
            status.to_string(),
            json!({
                "description": names.join(", "),
                "content": {"application/json": {"schema": error}},
            }),
        );
    }
    responses.insert(
        "default".into(),
        json!({
            "description": "Any other failure: no such route (404), a method the route does not take (405), and the rest.",
            "content": {"application/json": {"schema": error}},
        }),
    );
    Value::Object(responses)
}

/// The gRPC codes named in a comment, in order.
fn listed_codes(comment: &str) -> Vec<Code> {
    let words = comment.split(|c: char| !(c.is_ascii_uppercase() || c == '_'));
    let mut codes: Vec<Code> = words
        .filter_map(|word| (1..=16).map(Code::from_i32).find(|c| code_name(*c) == word))
        .collect();
    codes.dedup();
    codes
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The error shape's `details`: each a standard detail type with its `@type`.
fn error_details(status: &mut Value) {
    let one_of: Vec<Value> = DETAIL_TYPES
        .iter()
        .map(|name| {
            json!({"allOf": [
                {"$ref": format!("#/components/schemas/{}", short_name(name))},
                {
                    "type": "object",
                    "properties": {"@type": {"const": format!("type.googleapis.com/{name}")}},
                    "required": ["@type"],
                },
            ]})
        })
        .collect();
    status["properties"]["details"]["items"] = json!({"oneOf": one_of});
    status["properties"]["details"]["description"] = "What went wrong in detail; a \
        `google.rpc.BadRequest` names each request field that is wrong (by its JSON name)."
        .into();
}

/// `webhooks.v1.WebhookService` → `WebhookService`.
fn short(service: &str) -> &str {
    service.rsplit('.').next().unwrap_or(service)
}

/// A comment's first sentence.
fn summary(comment: &str) -> String {
    let paragraph = comment.split("\n\n").next().unwrap_or_default();
    let line = paragraph.replace('\n', " ");
    match line.find(". ") {
        Some(end) => line[..=end].to_owned(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_come_from_the_comment() {
        let comment = "Status codes: OK; INVALID_ARGUMENT (`x`); UNAUTHENTICATED;\n\
                       NOT_FOUND; FAILED_PRECONDITION (the INTERNAL_THING); INTERNAL.";
        assert_eq!(
            listed_codes(comment),
            [
                Code::InvalidArgument,
                Code::Unauthenticated,
                Code::NotFound,
                Code::FailedPrecondition,
                Code::Internal
            ]
        );
    }

    #[test]
    fn every_route_is_in_the_document_with_its_errors() {
        let document = document(None);
        for route in &ROUTES {
            let method = route.method.as_str().to_ascii_lowercase();
            let operation = &document["paths"][route.path][&method];
            assert_eq!(
                operation["operationId"],
                operation_id(route.rpc),
                "{}",
                route.path
            );
            let success = route.success.as_u16().to_string();
            assert!(
                operation["responses"][&success].is_object(),
                "{}",
                route.rpc
            );
            assert!(operation["responses"]["401"].is_object(), "{}", route.rpc);
        }
        let create = &document["paths"]["/v1/organizations/{organizationId}/webhooks"]["post"];
        let body = &create["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["additionalProperties"], false);
        assert!(body["properties"]["url"].is_object());
        assert_eq!(body["required"], json!(["url", "events"]));
        assert!(body["properties"].get("organizationId").is_none());
        assert_eq!(create["operationId"], "createWebhook");
        assert_eq!(create["parameters"][0]["schema"]["format"], "uuid");
        for status in ["400", "403", "409", "413", "429", "503", "500"] {
            assert!(create["responses"][status].is_object(), "{status}");
        }
        assert!(create["responses"].get("404").is_none());
        let status = &document["components"]["schemas"]["Status"];
        assert_eq!(status["properties"]["code"]["format"], "int32");
        assert!(document["components"]["schemas"]["BadRequest"].is_object());
        assert_eq!(document["servers"][0]["url"], "/");
        let public = super::document(Some("https://webhooks.example.com"));
        assert_eq!(public["servers"][0]["url"], "https://webhooks.example.com");
    }
}
