use super::*;
use serde_json::json;

fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {"type": "integer", "minimum": 0},
            "currency": {"enum": ["EUR", "USD"]},
            "paid_at": {"type": "string", "format": "date-time"}
        }
    })
}

fn stored(schema: Option<Value>, example: Option<Value>, built_in: bool) -> EventTypeDef {
    EventTypeDef {
        name: EventType::parse("invoice.paid").unwrap(),
        description: "An invoice was paid.".into(),
        schema,
        example,
        deprecated: false,
        archived: false,
        built_in,
        created_by: "platform".into(),
        updated_by: "platform".into(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

#[test]
fn a_new_type_with_a_schema_and_a_matching_example_is_accepted() {
    let example = json!({"amount": 1200, "currency": "EUR"});
    let new = NewEventType::parse(
        "invoice.paid",
        "An invoice was paid.",
        Some(invoice_schema()),
        Some(example.clone()),
        false,
    )
    .unwrap();
    assert_eq!(new.name.as_str(), "invoice.paid");
    assert_eq!(new.example, Some(example));
}

#[test]
fn every_wrong_field_of_a_new_type_is_reported() {
    let err = NewEventType::parse(
        "Invoice.Paid",
        "\0",
        Some(json!({"type": "bogus"})),
        Some(json!({"amount": -1})),
        false,
    )
    .unwrap_err();
    let fields: Vec<&str> = err.reported().iter().map(|v| v.field.as_ref()).collect();
    assert_eq!(fields, ["name", "description", "schema"]);
    let err = NewEventType::parse("webhook.ping", "", None, None, false).unwrap_err();
    assert!(
        err.to_string().contains("kept for the test deliveries"),
        "{err}"
    );
}

#[test]
fn an_example_the_schema_refuses_is_refused() {
    let err = NewEventType::parse(
        "invoice.paid",
        "",
        Some(invoice_schema()),
        Some(json!({"amount": -1, "currency": "EUR"})),
        false,
    )
    .unwrap_err();
    let violation = &err.reported()[0];
    assert_eq!(violation.field, "example");
    assert!(
        violation.description.contains("\"/amount\""),
        "{}",
        violation.description
    );
    let err = NewEventType::parse("invoice.paid", "", None, Some(json!([1])), false);
    assert_eq!(err.unwrap_err().reported()[0].field, "example");
}

#[test]
fn published_data_is_checked_with_pointers_and_at_most_ten_violations() {
    let schema = Schema::compile(&invoice_schema()).unwrap();
    assert!(check_published(&schema, &json!({"amount": 5, "currency": "USD"})).is_ok());
    let err = check_published(
        &schema,
        &json!({"amount": "5", "currency": "GBP", "paid_at": "yesterday"}),
    )
    .unwrap_err();
    let mut fields: Vec<&str> = err.reported().iter().map(|v| v.field.as_ref()).collect();
    fields.sort();
    assert_eq!(fields, ["data/amount", "data/currency", "data/paid_at"]);
    let missing = check_published(&schema, &json!({})).unwrap_err();
    assert_eq!(missing.reported()[0].field, "data");
    assert!(
        missing
            .to_string()
            .contains("\"amount\" is a required property")
    );

    let many = Schema::compile(&json!({"additionalProperties": {"type": "integer"}})).unwrap();
    let data: serde_json::Map<String, Value> =
        (0..15).map(|i| (format!("k{i}"), json!("x"))).collect();
    let err = check_published(&many, &Value::Object(data)).unwrap_err();
    assert_eq!((err.reported().len(), err.omitted()), (10, 5));
}

#[test]
fn an_update_is_checked_against_the_type_as_it_will_be() {
    let fields = |schema: Option<Value>, example: Option<Value>| EventTypeFields {
        description: "new".into(),
        schema,
        example,
        deprecated: true,
        archived: true,
    };
    let mask = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    // A stricter schema that the stored example no longer meets.
    let current = stored(None, Some(json!({"amount": 5})), false);
    let changes =
        EventTypeChanges::parse(&mask(&["schema"]), fields(Some(invoice_schema()), None)).unwrap();
    assert!(matches!(changes.apply(&current), Err(Refused::Invalid(_))));
    // Removing the schema while giving a new example.
    let changes = EventTypeChanges::parse(
        &mask(&["schema", "example"]),
        fields(None, Some(json!({"anything": true}))),
    )
    .unwrap();
    let next = changes
        .apply(&stored(Some(invoice_schema()), None, false))
        .unwrap();
    assert_eq!(
        (next.schema, next.example),
        (None, Some(json!({"anything": true})))
    );
    // A built-in type only changes `deprecated`.
    let builtin = stored(None, None, true);
    let archive = EventTypeChanges::parse(&mask(&["archived"]), fields(None, None)).unwrap();
    assert_eq!(archive.apply(&builtin), Err(Refused::BuiltIn));
    let deprecate = EventTypeChanges::parse(&mask(&["deprecated"]), fields(None, None)).unwrap();
    assert!(deprecate.apply(&builtin).unwrap().deprecated);
    // Masks name known fields, at least one.
    assert!(EventTypeChanges::parse(&[], fields(None, None)).is_err());
    let err = EventTypeChanges::parse(&mask(&["name"]), fields(None, None)).unwrap_err();
    assert!(
        err.to_string().contains("\"name\" cannot be updated"),
        "{err}"
    );
}
