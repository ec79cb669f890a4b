//! PublishEvent checks `data` with its type's JSON Schema: what meets it is
//! delivered, what fails it is refused with one violation per error named
//! by its JSON pointer (over gRPC and REST alike) and stored nowhere, and a
//! changed schema holds from the next publish on.

use std::time::Duration;

use serde_json::{Value, json};

use crate::on_every_backend;
use crate::support::catalogue::{
    invoice_example, invoice_schema, new_event_type, violated_fields, violations,
};
use crate::support::receiver::Receiver;
use crate::support::{Backend, deliver_to, spawn_app, spawn_app_with};

on_every_backend!(
    data_meeting_the_schema_is_delivered_and_data_failing_it_is_refused_by_pointer_and_never_stored,
    fifteen_errors_are_ten_violations_and_one_counting_five_more_over_grpc_and_rest,
    rest_names_the_same_pointers_with_their_underscores_kept,
    a_stricter_schema_holds_from_the_next_publish_and_a_removed_one_lets_anything_through,
);

const WAIT: Duration = Duration::from_secs(10);

/// Data failing [`invoice_schema`] in four places, one of them nested.
fn four_wrongs() -> Value {
    json!({
        "amount": -5,
        "currency": "GBP",
        "paid_at": "yesterday",
        "customer": {"first_name": 7}
    })
}

const FOUR_POINTERS: [&str; 4] = [
    "data/amount",
    "data/currency",
    "data/customer/first_name",
    "data/paid_at",
];

async fn data_meeting_the_schema_is_delivered_and_data_failing_it_is_refused_by_pointer_and_never_stored(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    app.create_invoice_paid().await;
    app.subscribe(&receiver.url("/invoices"), &["invoice.paid"])
        .await;

    let published = app
        .publish("invoice.paid", invoice_example(), "")
        .await
        .unwrap();
    assert_eq!(published.deliveries_scheduled, 1);
    let got = &receiver.wait_for("/invoices", 1, WAIT).await[0];
    let body = got.json();
    assert_eq!(body["type"], "invoice.paid");
    assert_eq!(body["id"], published.event_id);
    assert_eq!(body["data"], invoice_example());

    let refused = app
        .publish("invoice.paid", four_wrongs(), "")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), FOUR_POINTERS, "{refused:?}");
    // A missing required property is a violation of `data` itself; the
    // value sent is never quoted back.
    let missing = app
        .publish("invoice.paid", json!({"currency": "EUR"}), "missing")
        .await
        .unwrap_err();
    let missing = violations(&missing);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].0, "data");
    assert!(
        missing[0].1.contains("\"amount\" is a required property"),
        "{missing:?}"
    );
    let secret = json!({"amount": "s3cr3t-value", "currency": "EUR"});
    let refused = app.publish("invoice.paid", secret, "").await.unwrap_err();
    assert!(!format!("{refused:?}").contains("s3cr3t"), "{refused:?}");

    // Nothing refused was stored, so nothing more is sent; the key of a
    // refused publish stays free.
    assert_eq!(app.events_of_type("invoice.paid").await, 1);
    let rows = app.wait_until_settled(WAIT).await;
    assert_eq!(rows, [("succeeded".to_owned(), 1)]);
    assert_eq!(receiver.received("/invoices").len(), 1);
    let later = app
        .publish("invoice.paid", invoice_example(), "missing")
        .await
        .unwrap();
    assert!(!later.duplicate);
}

/// A type whose `data` is any number of whole-number properties.
async fn counters_type(app: &crate::support::TestApp) {
    let schema = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    app.create_event_type(new_event_type("usage.counted", Some(schema), None))
        .await
        .unwrap();
}

/// Fifteen properties that are not whole numbers.
fn fifteen_wrongs() -> Value {
    let fields: serde_json::Map<String, Value> =
        (0..15).map(|i| (format!("k{i:02}"), json!("x"))).collect();
    Value::Object(fields)
}

async fn fifteen_errors_are_ten_violations_and_one_counting_five_more_over_grpc_and_rest(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    counters_type(&app).await;

    let refused = app
        .publish("usage.counted", fifteen_wrongs(), "")
        .await
        .unwrap_err();

    let grpc = violations(&refused);
    assert_eq!(grpc.len(), 11, "{grpc:?}");
    assert!(
        grpc[..10]
            .iter()
            .all(|(field, _)| field.starts_with("data/k")),
        "{grpc:?}"
    );
    let mut named: Vec<&str> = grpc[..10].iter().map(|(f, _)| f.as_str()).collect();
    named.dedup();
    assert_eq!(named.len(), 10, "each error once: {grpc:?}");
    assert_eq!(
        grpc[10],
        ("".into(), "and 5 more violations, not shown".into())
    );

    let body = json!({"type": "usage.counted", "data": fifteen_wrongs()});
    let rest = app.publish_over_rest(&body).await;
    assert_eq!(rest.status, 400, "{rest:?}");
    assert_eq!(rest.body["message"], refused.message());
    assert_eq!(rest.violations(), grpc);
    assert_eq!(app.events_of_type("usage.counted").await, 0);
}

async fn rest_names_the_same_pointers_with_their_underscores_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_invoice_paid().await;
    let body = json!({"type": "invoice.paid", "data": four_wrongs()});

    let rest = app.publish_over_rest(&body).await;

    assert_eq!(rest.status, 400, "{rest:?}");
    let grpc = app
        .publish("invoice.paid", four_wrongs(), "")
        .await
        .unwrap_err();
    assert_eq!(rest.body["message"], grpc.message());
    assert_eq!(rest.violations(), violations(&grpc), "the same, in order");
    let mut fields: Vec<String> = rest.violations().into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, FOUR_POINTERS);
    assert_eq!(app.events_of_type("invoice.paid").await, 0);
}

async fn a_stricter_schema_holds_from_the_next_publish_and_a_removed_one_lets_anything_through(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.create_invoice_paid().await;
    let small = json!({"amount": 5, "currency": "EUR"});
    // Published once, so the schema is compiled and cached.
    app.publish("invoice.paid", small.clone(), "")
        .await
        .unwrap();

    let mut stricter = invoice_schema();
    stricter["properties"]["amount"]["minimum"] = json!(100);
    app.set_schema("invoice.paid", Some(stricter)).await;
    let refused = app
        .publish("invoice.paid", small.clone(), "")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), ["data/amount"]);

    app.set_schema("invoice.paid", None).await;
    app.publish("invoice.paid", json!({"anything": ["goes"]}), "")
        .await
        .unwrap();
    app.publish("invoice.paid", small, "").await.unwrap();
    assert_eq!(app.events_of_type("invoice.paid").await, 3);
}
