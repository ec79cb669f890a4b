//! What CreateEventType and UpdateEventType refuse, and that a refused
//! write leaves the catalogue as it was.

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::catalogue::{
    from_struct, invoice_example, invoice_schema, new_event_type, violations,
};
use crate::support::{Backend, assert_field_violation, field_mask, spawn_app, to_struct};
use webhook_service::grpc::proto::UpdateEventTypeRequest;

on_every_backend!(
    a_schema_that_is_not_a_draft_2020_12_schema_is_refused_on_schema_with_the_reason,
    an_example_that_fails_the_schema_and_a_bad_name_are_refused_on_their_fields,
    an_update_that_the_stored_example_no_longer_meets_is_refused_and_changes_nothing,
);

async fn a_schema_that_is_not_a_draft_2020_12_schema_is_refused_on_schema_with_the_reason(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let create = |schema| app.create_event_type(new_event_type("invoice.paid", Some(schema), None));

    let bogus = create(json!({"type": "bogus"})).await.unwrap_err();
    let reason = assert_field_violation(&bogus, "schema");
    assert!(
        reason.starts_with("is not a valid draft 2020-12 JSON Schema at \"/type\""),
        "{reason}"
    );
    // Nothing outside the schema is fetched: the network, or a file.
    for outside in [
        "https://schemas.example.com/invoice.json",
        "file:///etc/passwd",
    ] {
        let remote = create(json!({"$ref": outside})).await.unwrap_err();
        let reason = assert_field_violation(&remote, "schema");
        assert!(reason.starts_with("cannot be compiled"), "{reason}");
    }
    let draft_07 = json!({"$schema": "http://json-schema.org/draft-07/schema#"});
    let reason = assert_field_violation(&create(draft_07).await.unwrap_err(), "schema");
    assert!(reason.starts_with("$schema must be"), "{reason}");
    let colour = json!({"properties": {"c": {"format": "colour"}}});
    assert_field_violation(&create(colour).await.unwrap_err(), "schema");

    let missing = app
        .get_event_type_as(&app.token("MEMBER"), "invoice.paid")
        .await
        .unwrap_err();
    assert_eq!(
        missing.code(),
        Code::NotFound,
        "nothing stored: {missing:?}"
    );

    // A reference within the schema itself: accepted.
    let local = json!({
        "$defs": {"cents": {"type": "integer", "minimum": 0}},
        "properties": {"amount": {"$ref": "#/$defs/cents"}}
    });
    create(local).await.unwrap();
}

async fn an_example_that_fails_the_schema_and_a_bad_name_are_refused_on_their_fields(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let negative = json!({"amount": -1, "currency": "EUR"});
    let request = new_event_type("invoice.paid", Some(invoice_schema()), Some(negative));
    let refused = app.create_event_type(request).await.unwrap_err();
    assert_eq!(
        violations(&refused).len(),
        1,
        "only the example: {refused:?}"
    );
    let reason = assert_field_violation(&refused, "example");
    assert!(reason.contains("\"/amount\""), "{reason}");
    let list = new_event_type("invoice.paid", None, None);
    let list = webhook_service::grpc::proto::CreateEventTypeRequest {
        example: Some(to_struct(json!({"items": [1, 2]}))),
        ..list
    };
    // Without a schema, any object will do.
    app.create_event_type(list).await.unwrap();

    let too_long = format!("a{}", "b".repeat(128));
    for bad in [
        "",
        "Invoice.Paid",
        "invoice..paid",
        ".paid",
        "1invoice",
        "invoice paid",
        too_long.as_str(),
    ] {
        let refused = app
            .create_event_type(new_event_type(bad, None, None))
            .await
            .unwrap_err();
        assert_field_violation(&refused, "name");
    }
    // Every wrong field at once.
    let mut everything = new_event_type("Invoice", Some(json!({"type": "bogus"})), None);
    everything.description = "x".repeat(501);
    let refused = app.create_event_type(everything).await.unwrap_err();
    let mut fields: Vec<String> = violations(&refused).into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, ["description", "name", "schema"]);
    assert_eq!(
        app.event_type_names(false).await.len(),
        14,
        "only invoice.paid was added"
    );
}

async fn an_update_that_the_stored_example_no_longer_meets_is_refused_and_changes_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.create_invoice_paid().await;
    let mut stricter = invoice_schema();
    stricter["properties"]["amount"]["minimum"] = json!(5000);
    let update = UpdateEventTypeRequest {
        name: "invoice.paid".into(),
        schema: Some(to_struct(stricter.clone())),
        update_mask: field_mask(&["schema"]),
        ..Default::default()
    };

    let refused = app.update_event_type(update.clone()).await.unwrap_err();

    let reason = assert_field_violation(&refused, "example");
    assert!(reason.contains("\"/amount\""), "{reason}");
    let stored = app
        .get_event_type_as(&app.token("MEMBER"), "invoice.paid")
        .await
        .unwrap();
    assert_eq!(
        from_struct(stored.schema.as_ref().unwrap()),
        invoice_schema()
    );
    // With an example that meets it, in the same update: accepted.
    let mut example = invoice_example();
    example["amount"] = json!(9000);
    let both = UpdateEventTypeRequest {
        example: Some(to_struct(example.clone())),
        update_mask: field_mask(&["schema", "example"]),
        ..update
    };
    let updated = app.update_event_type(both).await.unwrap();
    assert_eq!(from_struct(updated.schema.as_ref().unwrap()), stricter);
    assert_eq!(from_struct(updated.example.as_ref().unwrap()), example);

    // A bad schema in an update, and masks that name nothing updatable.
    let bogus = UpdateEventTypeRequest {
        name: "invoice.paid".into(),
        schema: Some(to_struct(json!({"type": "bogus"}))),
        update_mask: field_mask(&["schema"]),
        ..Default::default()
    };
    assert_field_violation(&app.update_event_type(bogus).await.unwrap_err(), "schema");
    for paths in [&[][..], &["name"], &["built_in"]] {
        let request = UpdateEventTypeRequest {
            name: "invoice.paid".into(),
            update_mask: field_mask(paths),
            ..Default::default()
        };
        let refused = app.update_event_type(request).await.unwrap_err();
        assert_field_violation(&refused, "update_mask");
    }
    let request = UpdateEventTypeRequest {
        name: "invoice.refunded".into(),
        update_mask: field_mask(&["deprecated"]),
        ..Default::default()
    };
    let missing = app.update_event_type(request).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
}
