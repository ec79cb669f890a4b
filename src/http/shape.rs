//! Where each field of a route's request message comes from (the path, the
//! query or the body), read from the descriptors, and how the three are put
//! together into the message's JSON.

use prost_types::field_descriptor_proto::Type;
use serde_json::{Map, Value};

use super::descriptor::{FieldKind, FieldShape, descriptors, proto_name};
use super::errors::{ApiError, cut};
use super::routes::{Input, Route};

/// One route's request message and the origin of its fields.
#[derive(Debug)]
pub struct RequestShape {
    route: &'static Route,
    message: String,
    path: Vec<Field>,
    query: Vec<Field>,
    /// FieldMask fields: a string of comma-separated paths in JSON.
    masks: Vec<Field>,
}

#[derive(Debug, Clone)]
struct Field {
    json: String,
    proto: String,
    repeated: bool,
    query_value: QueryValue,
}

/// How a query parameter's text becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryValue {
    /// As a string: numbers, timestamps and the rest read strings too.
    Text,
    Bool,
    /// By name, or by number.
    Enum,
}

impl RequestShape {
    /// The shape of `route`'s request; fails when the route names a field
    /// its message does not have.
    pub fn of(route: &'static Route) -> Result<Self, String> {
        let descriptors = descriptors();
        let method = descriptors
            .methods
            .get(&route.method_name())
            .ok_or_else(|| format!("{}: no such RPC", route.method_name()))?;
        let message = descriptors.message(&method.input);
        let find = |json: &str| {
            message
                .fields
                .iter()
                .find(|f| f.json_name == json)
                .map(Field::new)
                .ok_or_else(|| format!("{}: {} has no field {json}", route.path, method.input))
        };
        let path = route
            .path_fields()
            .map(find)
            .collect::<Result<Vec<_>, _>>()?;
        let rest = message
            .fields
            .iter()
            .filter(|f| !path.iter().any(|p| p.json == f.json_name));
        let query = match route.input {
            Input::Query => rest.map(Field::new).collect(),
            Input::Body { also_in_query } => also_in_query
                .iter()
                .map(|f| find(f))
                .collect::<Result<_, _>>()?,
        };
        let masks = message
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Message("google.protobuf.FieldMask".into()))
            .map(Field::new)
            .collect();
        Ok(Self {
            route,
            message: method.input.clone(),
            path,
            query,
            masks,
        })
    }

    pub fn route(&self) -> &'static Route {
        self.route
    }

    /// The request message's full name.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn takes_body(&self) -> bool {
        matches!(self.route.input, Input::Body { .. })
    }

    /// The request message's JSON: the body's fields, the query's, and the
    /// path's `captures`; a field given twice is refused.
    pub fn fields(
        &self,
        body: Option<Map<String, Value>>,
        query: Option<&str>,
        captures: Vec<(String, String)>,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut fields = body.unwrap_or_default();
        for (name, text) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let Some(field) = self.query.iter().find(|f| f.named(&name)) else {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{}`{}",
                    cut(&name),
                    self.query_hint()
                )));
            };
            let value = field.query_value(&text);
            let in_other_spelling = fields.contains_key(&field.proto) && field.proto != field.json;
            match fields.get_mut(&field.json) {
                _ if in_other_spelling => return Err(given_twice(&field.json)),
                Some(Value::Array(values)) if field.repeated => values.push(value),
                Some(_) => return Err(given_twice(&field.json)),
                None if field.repeated => {
                    fields.insert(field.json.clone(), Value::Array(vec![value]));
                }
                None => {
                    fields.insert(field.json.clone(), value);
                }
            }
        }
        for mask in &self.masks {
            mask.read_mask(&mut fields)?;
        }
        for (name, value) in captures {
            let field = self.path.iter().find(|f| f.json == name);
            let field = field.expect("the router captures only the path's fields");
            if field.given_in(&fields) {
                return Err(ApiError::bad_request(format!(
                    "`{name}` comes from the URL path; leave it out of the body and query"
                )));
            }
            fields.insert(name, Value::String(value));
        }
        Ok(fields)
    }

    fn query_hint(&self) -> String {
        if self.query.is_empty() {
            return "; this route takes none".to_owned();
        }
        let names: Vec<&str> = self.query.iter().map(|f| f.json.as_str()).collect();
        format!("; this route takes {}", names.join(", "))
    }
}

fn given_twice(name: &str) -> ApiError {
    ApiError::bad_request(format!("`{name}` is given twice"))
}

impl Field {
    fn new(field: &FieldShape) -> Self {
        let query_value = match field.kind {
            FieldKind::Scalar(Type::Bool) => QueryValue::Bool,
            FieldKind::Enum(_) => QueryValue::Enum,
            _ => QueryValue::Text,
        };
        Self {
            json: field.json_name.clone(),
            proto: field.name.clone(),
            repeated: field.repeated,
            query_value,
        }
    }

    /// Whether `name` is this field's, in either spelling.
    fn named(&self, name: &str) -> bool {
        name == self.json || name == self.proto
    }

    fn given_in(&self, fields: &Map<String, Value>) -> bool {
        fields.contains_key(&self.json) || fields.contains_key(&self.proto)
    }

    fn query_value(&self, text: &str) -> Value {
        match (self.query_value, text) {
            (QueryValue::Bool, "true") => Value::Bool(true),
            (QueryValue::Bool, "false") => Value::Bool(false),
            (QueryValue::Enum, number) if number.parse::<i32>().is_ok() => {
                Value::from(number.parse::<i32>().unwrap_or_default())
            }
            _ => Value::String(text.to_owned()),
        }
    }

    /// A FieldMask in the proto3 JSON mapping is one string of
    /// comma-separated paths, each in either spelling (`url,rateLimitPerSecond`);
    /// it becomes the message form the generated code reads.
    fn read_mask(&self, fields: &mut Map<String, Value>) -> Result<(), ApiError> {
        let given = fields
            .remove(&self.json)
            .or_else(|| fields.remove(&self.proto));
        let Some(given) = given else {
            return Ok(());
        };
        let Value::String(text) = given else {
            return Err(ApiError::bad_request(format!(
                "`{}` must be a string of comma-separated field names, such as \"url,events\"",
                self.json
            )));
        };
        let paths: Vec<Value> = text
            .split(',')
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .map(|path| {
                let path: Vec<String> = path.split('.').map(proto_name).collect();
                Value::String(path.join("."))
            })
            .collect();
        let mut mask = Map::new();
        mask.insert("paths".to_owned(), Value::Array(paths));
        fields.insert(self.json.clone(), Value::Object(mask));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::ROUTES;
    use serde_json::json;

    fn shape(rpc: &str) -> RequestShape {
        let route = ROUTES.iter().find(|r| r.rpc == rpc).unwrap();
        RequestShape::of(route).unwrap()
    }

    fn captures(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_route_names_fields_its_message_has() {
        for route in &ROUTES {
            let shape = RequestShape::of(route).unwrap();
            assert_eq!(shape.takes_body(), route.input != Input::Query);
        }
    }

    #[test]
    fn path_query_and_body_make_one_message() {
        let update = shape("UpdateWebhook");
        let fields = update
            .fields(
                Some(
                    json!({"url": "https://a.example", "enabled": true})
                        .as_object()
                        .cloned()
                        .unwrap(),
                ),
                Some("updateMask=url,rateLimitPerSecond"),
                captures(&[("organizationId", "o"), ("webhookId", "w")]),
            )
            .unwrap();
        assert_eq!(
            Value::Object(fields),
            json!({
                "url": "https://a.example",
                "enabled": true,
                "updateMask": {"paths": ["url", "rate_limit_per_second"]},
                "organizationId": "o",
                "webhookId": "w",
            })
        );
    }

    #[test]
    fn query_parameters_take_either_spelling_and_their_types() {
        let list = shape("ListDeliveries");
        let fields = list
            .fields(
                None,
                Some("page_size=5&status=DELIVERY_STATUS_FAILED&eventType=member.added"),
                captures(&[("organizationId", "o")]),
            )
            .unwrap();
        assert_eq!(fields["pageSize"], "5");
        assert_eq!(fields["status"], "DELIVERY_STATUS_FAILED");
        let by_number = list.fields(None, Some("status=3"), vec![]).unwrap();
        assert_eq!(by_number["status"], 3);
    }

    #[test]
    fn a_field_given_twice_or_unknown_is_refused() {
        let list = shape("ListWebhooks");
        let twice = list.fields(None, Some("pageSize=1&page_size=2"), vec![]);
        assert!(twice.unwrap_err().message().contains("given twice"));
        let unknown = list.fields(None, Some("colour=red"), vec![]);
        assert!(unknown.unwrap_err().message().contains("`colour`"));
        let path_in_query = list.fields(
            None,
            Some("organizationId=x"),
            captures(&[("organizationId", "o")]),
        );
        assert!(
            path_in_query
                .unwrap_err()
                .message()
                .contains("unknown query parameter")
        );

        let create = shape("CreateWebhook");
        let path_in_body = create.fields(
            json!({"organization_id": "x"}).as_object().cloned(),
            None,
            captures(&[("organizationId", "o")]),
        );
        assert!(
            path_in_body
                .unwrap_err()
                .message()
                .contains("comes from the URL path")
        );
        let query_on_body_route = create.fields(None, Some("url=x"), vec![]);
        assert!(
            query_on_body_route
                .unwrap_err()
                .message()
                .contains("takes none")
        );
    }

    #[test]
    fn a_mask_must_be_a_string() {
        let update = shape("UpdateWebhook");
        let object = update.fields(
            json!({"updateMask": {"paths": ["url"]}})
                .as_object()
                .cloned(),
            None,
            vec![],
        );
        assert!(object.unwrap_err().message().contains("must be a string"));
        let twice = update.fields(
            json!({"update_mask": "url"}).as_object().cloned(),
            Some("updateMask=url"),
            vec![],
        );
        assert!(twice.unwrap_err().message().contains("given twice"));
    }
}
