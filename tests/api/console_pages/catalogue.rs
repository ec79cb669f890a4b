//! The open event catalogue on the console's Event types page: types the
//! platform added, with a schema and example, deprecated, archived, holding
//! hostile text; and the helpers that add them, which `subscribing.rs`
//! shares.

use webhook_service::grpc::proto::{CreateEventTypeRequest, UpdateEventTypeRequest};

use super::*;
use crate::support::{field_mask, service_token, to_struct};

/// The schema of `invoice.paid`, as registered.
fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "description": "A paid invoice",
        "properties": {
            "amount": {"type": "integer", "minimum": 0},
            "currency": {"type": "string"}
        },
        "required": ["amount"]
    })
}

/// The example of `invoice.paid`, as registered.
pub(super) fn invoice_example() -> Value {
    json!({"amount": 1200, "currency": "EUR"})
}

/// A token that may change the catalogue: the platform's backend.
fn catalogue_writer() -> String {
    service_token("platform", "event-types:write", 600)
}

/// A type named `name`, without schema or example, not deprecated.
pub(super) fn plain(name: &str, description: &str) -> CreateEventTypeRequest {
    CreateEventTypeRequest {
        name: name.into(),
        description: description.into(),
        ..Default::default()
    }
}

/// Adds a type to the catalogue through gRPC.
pub(super) async fn add_type(app: &TestApp, request: CreateEventTypeRequest) {
    let name = request.name.clone();
    app.webhooks()
        .await
        .create_event_type(authorized(request, &catalogue_writer()))
        .await
        .unwrap_or_else(|e| panic!("create event type {name}: {e:?}"));
}

/// Archives a type of the catalogue through gRPC.
pub(super) async fn archive(app: &TestApp, name: &str) {
    let request = UpdateEventTypeRequest {
        name: name.into(),
        archived: true,
        update_mask: field_mask(&["archived"]),
        ..Default::default()
    };
    app.webhooks()
        .await
        .update_event_type(authorized(request, &catalogue_writer()))
        .await
        .unwrap_or_else(|e| panic!("archive event type {name}: {e:?}"));
}

/// `invoice.paid` with a schema and an example, `invoice.refunded`
/// deprecated, `invoice.voided` archived, `audit.note` without a schema.
pub(super) async fn add_invoice_types(app: &TestApp) {
    let paid = CreateEventTypeRequest {
        schema: Some(to_struct(invoice_schema())),
        example: Some(to_struct(invoice_example())),
        ..plain("invoice.paid", "An invoice was paid in full")
    };
    add_type(app, paid).await;
    let refunded = CreateEventTypeRequest {
        deprecated: true,
        ..plain("invoice.refunded", "An invoice was refunded")
    };
    add_type(app, refunded).await;
    add_type(app, plain("invoice.voided", "An invoice was voided")).await;
    archive(app, "invoice.voided").await;
    add_type(app, plain("audit.note", "Anything worth a note")).await;
}

/// The selector of the Event types page's row of `name`.
pub(super) fn type_row(name: &str) -> String {
    format!("{}[data-event-type=\"{name}\"]", testid("event-type-row"))
}

/// The selector of the element `id` in the row of `name`.
fn in_row(name: &str, id: &str) -> String {
    format!("{} {}", type_row(name), testid(id))
}

/// The catalogue as ListEventTypes answers it (its first page).
async fn event_types(app: &TestApp) -> Vec<EventTypeInfo> {
    app.webhooks()
        .await
        .list_event_types(authorized(
            ListEventTypesRequest::default(),
            &app.token("OWNER"),
        ))
        .await
        .expect("list event types")
        .into_inner()
        .event_types
}

#[tokio::test]
async fn the_event_types_page_lists_the_catalogue_with_a_line_each() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;

    browser.click(&testid("nav-event-types")).await?;
    browser.wait_for_testid("event-type-row").await?;
    let names = texts(&browser, &testid("event-type-name")).await?;
    let descriptions = texts(&browser, &testid("event-type-description")).await?;
    let catalogue = event_types(&app).await;
    let expected: Vec<&str> = catalogue.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, expected);
    for (shown, info) in descriptions.iter().zip(&catalogue) {
        assert_eq!(shown, &info.description);
    }
    keep_screenshot(&browser, "event-types").await?;
    Ok(())
}

#[tokio::test]
async fn the_event_types_page_shows_schemas_examples_and_flags_and_hides_archived_types()
-> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    add_invoice_types(&app).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;

    browser.click(&testid("nav-event-types")).await?;
    let row = browser.text(&type_row("invoice.paid")).await?;
    assert!(row.contains("An invoice was paid in full"), "{row}");

    // The schema and example, folded at first, open as pretty-printed JSON.
    browser
        .wait_until_hidden(&in_row("invoice.paid", "event-type-schema"))
        .await?;
    browser
        .click(&in_row("invoice.paid", "event-type-schema-toggle"))
        .await?;
    let schema = browser
        .text(&in_row("invoice.paid", "event-type-schema"))
        .await?;
    assert_eq!(serde_json::from_str::<Value>(&schema)?, invoice_schema());
    assert!(schema.contains("\n  \"properties\": {\n"), "{schema}");
    browser
        .click(&in_row("invoice.paid", "event-type-example-toggle"))
        .await?;
    let example = browser
        .text(&in_row("invoice.paid", "event-type-example"))
        .await?;
    assert_eq!(serde_json::from_str::<Value>(&example)?, invoice_example());

    // Flags: deprecated and built-in, each only where it holds.
    for (name, flag, expected) in [
        ("invoice.refunded", "event-type-deprecated", true),
        ("invoice.paid", "event-type-deprecated", false),
        ("member.added", "event-type-built-in", true),
        ("invoice.paid", "event-type-built-in", false),
    ] {
        let selector = serde_json::to_string(&in_row(name, flag))?;
        let shown = browser
            .eval(&format!("document.querySelector({selector}) !== null"))
            .await?;
        assert_eq!(shown, expected, "{flag} on {name}");
    }
    let deprecated = browser
        .text(&in_row("invoice.refunded", "event-type-deprecated"))
        .await?;
    assert_eq!(deprecated.to_lowercase(), "deprecated");

    // A type without a schema says what its data may be.
    browser
        .click(&in_row("audit.note", "event-type-schema-toggle"))
        .await?;
    let none = browser
        .text(&in_row("audit.note", "event-type-no-schema"))
        .await?;
    assert!(
        none.to_lowercase().contains("no schema: any json object"),
        "{none}"
    );

    // The archived type is not shown; the others all are, in name order.
    let names = texts(&browser, &testid("event-type-name")).await?;
    assert!(!names.iter().any(|n| n == "invoice.voided"), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 13 + 3, "{names:?}");
    keep_screenshot(&browser, "event-types-custom").await?;
    Ok(())
}

#[tokio::test]
async fn a_schema_and_description_holding_html_are_shown_as_text() -> anyhow::Result<()> {
    const HOSTILE: &str = r#"<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>"#;
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let hostile = CreateEventTypeRequest {
        schema: Some(to_struct(
            json!({"type": "object", "title": HOSTILE, "description": HOSTILE}),
        )),
        example: Some(to_struct(json!({"note": HOSTILE}))),
        ..plain("hostile.thing", HOSTILE)
    };
    add_type(&app, hostile).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;

    browser.click(&testid("nav-event-types")).await?;
    let description = browser
        .text(&in_row("hostile.thing", "event-type-description"))
        .await?;
    assert_eq!(description, HOSTILE);
    browser
        .click(&in_row("hostile.thing", "event-type-schema-toggle"))
        .await?;
    browser
        .click(&in_row("hostile.thing", "event-type-example-toggle"))
        .await?;
    let schema = browser
        .wait_for_text(&in_row("hostile.thing", "event-type-schema"), "<img")
        .await?;
    assert_eq!(serde_json::from_str::<Value>(&schema)?["title"], HOSTILE);
    browser
        .wait_for_text(&in_row("hostile.thing", "event-type-example"), "onerror")
        .await?;

    // The create dialog shows the description too, as text.
    browser.click(&testid("nav-webhooks")).await?;
    browser.click(&testid("webhook-create")).await?;
    browser
        .wait_for_text(&testid("webhook-dialog"), "<script>")
        .await?;

    let injected = browser
        .eval(
            "[window.pwned === undefined, \
             document.querySelectorAll('main img, main script, dialog img, dialog script').length]",
        )
        .await?;
    assert_eq!(injected, json!([true, 0]));
    Ok(())
}
