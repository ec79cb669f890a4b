//! The event catalogue through its RPCs: a type added with a schema is got
//! back and listed among the built-in ones, pages walk it once, the
//! built-in types keep their meaning, and who may read and write it.

use serde_json::json;
use tonic::Code;

use crate::on_every_backend;
use crate::support::catalogue::{
    CATALOGUE_WRITER, from_struct, invoice_example, invoice_schema, new_event_type,
};
use crate::support::{
    Backend, TestApp, assert_field_violation, field_mask, platform_token, publisher_token,
    service_token, spawn_app,
};
use webhook_service::grpc::proto::{ListEventTypesRequest, UpdateEventTypeRequest};

on_every_backend!(
    a_type_added_with_a_schema_is_got_back_and_listed_in_name_order_among_the_built_in_ones,
    pages_of_five_walk_the_whole_catalogue_exactly_once,
    a_built_in_type_only_changes_deprecated_and_its_name_cannot_be_taken,
    members_and_portal_tokens_read_the_catalogue_and_only_the_write_scope_changes_it,
);

use crate::support::BUILT_IN_TYPES as BUILT_IN;

/// The built-in names and `more`, in name order.
fn catalogue_with(more: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = BUILT_IN.iter().chain(more).map(|n| n.to_string()).collect();
    names.sort();
    names
}

async fn a_type_added_with_a_schema_is_got_back_and_listed_in_name_order_among_the_built_in_ones(
    backend: Backend,
) {
    let app = spawn_app(backend).await;

    let created = app.create_invoice_paid().await;

    assert_eq!(created.name, "invoice.paid");
    assert_eq!(created.description, "invoice.paid happened.");
    assert_eq!(
        from_struct(created.schema.as_ref().unwrap()),
        invoice_schema()
    );
    assert_eq!(
        from_struct(created.example.as_ref().unwrap()),
        invoice_example()
    );
    assert!(!created.built_in && !created.archived && !created.deprecated);
    assert_eq!(created.create_time, created.update_time);
    let got = app
        .get_event_type_as(&app.token("MEMBER"), "invoice.paid")
        .await
        .unwrap();
    assert_eq!(
        got, created,
        "GetEventType answers what CreateEventType did"
    );
    // REST shows the schema and example as written: whole numbers stay
    // whole (`"minimum": 0`, not `0.0`).
    let rest = app
        .rest()
        .call(
            "GET",
            "/v1/eventTypes/invoice.paid",
            Some(&app.token("MEMBER")),
            None,
        )
        .await;
    assert_eq!(rest.status, 200, "{rest:?}");
    assert_eq!(rest.body["schema"], invoice_schema());
    assert_eq!(rest.body["example"], invoice_example());

    assert_eq!(
        app.event_type_names(false).await,
        catalogue_with(&["invoice.paid"])
    );
    let missing = app
        .get_event_type_as(&app.token("MEMBER"), "invoice.refunded")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let bad = app
        .get_event_type_as(&app.token("MEMBER"), "Invoice.Paid")
        .await
        .unwrap_err();
    assert_field_violation(&bad, "name");
}

/// Every page of `page_size` from the first on, as `(names, next_page_token)`.
async fn pages(app: &TestApp, page_size: i32) -> Vec<Vec<String>> {
    let token = app.token("MEMBER");
    let (mut pages, mut page_token) = (Vec::new(), String::new());
    loop {
        let request = ListEventTypesRequest {
            page_size,
            page_token: page_token.clone(),
            include_archived: false,
        };
        let page = app.list_event_types_as(&token, request).await.unwrap();
        pages.push(page.event_types.into_iter().map(|t| t.name).collect());
        assert!(pages.len() <= 10, "the pages never end: {pages:?}");
        if page.next_page_token.is_empty() {
            return pages;
        }
        page_token = page.next_page_token;
    }
}

async fn pages_of_five_walk_the_whole_catalogue_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_invoice_paid().await;

    let walked = pages(&app, 5).await;
    let sizes: Vec<usize> = walked.iter().map(Vec::len).collect();
    assert_eq!(sizes, [5, 5, 4]);
    assert_eq!(walked.concat(), catalogue_with(&["invoice.paid"]));

    // A last page that is full ends the walk: no empty page after it.
    app.create_event_type(new_event_type("zebra.spotted", None, None))
        .await
        .unwrap();
    let walked = pages(&app, 5).await;
    let sizes: Vec<usize> = walked.iter().map(Vec::len).collect();
    assert_eq!(sizes, [5, 5, 5]);
    assert_eq!(
        walked.concat(),
        catalogue_with(&["invoice.paid", "zebra.spotted"])
    );
}

async fn a_built_in_type_only_changes_deprecated_and_its_name_cannot_be_taken(backend: Backend) {
    let app = spawn_app(backend).await;
    let update = |paths: &[&str]| UpdateEventTypeRequest {
        name: "member.added".into(),
        description: "Someone new.".into(),
        deprecated: true,
        archived: true,
        update_mask: field_mask(paths),
        ..Default::default()
    };

    for paths in [
        &["archived"][..],
        &["description"],
        &["schema"],
        &["example"],
        &["deprecated", "description"],
    ] {
        let refused = app.update_event_type(update(paths)).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::FailedPrecondition,
            "{paths:?}: {refused:?}"
        );
    }
    let unchanged = app
        .get_event_type_as(&app.token("MEMBER"), "member.added")
        .await
        .unwrap();
    assert_eq!(unchanged.description, "A user joined the organization.");
    assert!(!unchanged.deprecated && !unchanged.archived && unchanged.built_in);

    let deprecated = app
        .update_event_type(update(&["deprecated"]))
        .await
        .unwrap();
    assert!(deprecated.deprecated && !deprecated.archived && deprecated.built_in);
    let listed = app
        .list_event_types_as(&app.token("MEMBER"), ListEventTypesRequest::default())
        .await
        .unwrap();
    let member_added = listed
        .event_types
        .iter()
        .find(|t| t.name == "member.added")
        .expect("still listed");
    assert!(member_added.deprecated, "{member_added:?}");
    // Deprecated is on its way out, not gone: still published.
    app.publish("member.added", json!({}), "").await.unwrap();

    let taken = app
        .create_event_type(new_event_type("member.added", None, None))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken:?}");
    let ping = app
        .create_event_type(new_event_type("webhook.ping", None, None))
        .await
        .unwrap_err();
    let reason = assert_field_violation(&ping, "name");
    assert!(reason.contains("test deliveries"), "{reason}");
}

/// `(created_by, updated_by)` of the type `name`, as stored.
async fn authors(app: &TestApp, name: &str) -> (String, String) {
    let sql = format!("SELECT created_by, updated_by FROM event_types WHERE name = '{name}'");
    let row = &app.query(&sql).await[0];
    (
        row.try_get("", "created_by").unwrap(),
        row.try_get("", "updated_by").unwrap(),
    )
}

async fn members_and_portal_tokens_read_the_catalogue_and_only_the_write_scope_changes_it(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let describe = |description: &str| UpdateEventTypeRequest {
        name: "invoice.paid".into(),
        description: description.into(),
        update_mask: field_mask(&["description"]),
        ..Default::default()
    };
    let request = new_event_type("invoice.paid", Some(invoice_schema()), None);

    for token in [
        app.token("OWNER"),
        app.token("ADMIN"),
        platform_token(),
        publisher_token(),
        service_token(CATALOGUE_WRITER, "event-types:read", 3600),
    ] {
        let refused = app
            .create_event_type_as(&token, request.clone())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    assert_eq!(
        app.event_type_names(false).await,
        catalogue_with(&[]),
        "nothing created"
    );

    let created = app.create_event_type(request).await.unwrap();
    assert_eq!(
        authors(&app, "invoice.paid").await,
        (CATALOGUE_WRITER.into(), CATALOGUE_WRITER.into())
    );
    for token in [app.token("OWNER"), app.token("ADMIN"), platform_token()] {
        let refused = app
            .update_event_type_as(&token, describe("by an admin"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    // The scope among others, as identity providers list them.
    let editor = service_token("catalogue-editor", "openid event-types:write", 3600);
    let updated = app
        .update_event_type_as(&editor, describe("An invoice was paid in full."))
        .await
        .unwrap();
    assert_eq!(updated.description, "An invoice was paid in full.");
    assert_eq!(
        authors(&app, "invoice.paid").await,
        (CATALOGUE_WRITER.into(), "catalogue-editor".into())
    );

    let member = app.token("MEMBER");
    let got = app
        .get_event_type_as(&member, "invoice.paid")
        .await
        .unwrap();
    assert_eq!(got.create_time, created.create_time);
    assert_eq!(got.description, "An invoice was paid in full.");
    assert_eq!(
        app.event_type_names(false).await,
        catalogue_with(&["invoice.paid"])
    );
    let anonymous = app
        .webhooks()
        .await
        .list_event_types(ListEventTypesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");

    // A portal token reads, over REST, and cannot write.
    let portal = app.portal_token().await;
    let rest = app.rest();
    let listed = rest
        .call("GET", "/v1/eventTypes", Some(&portal), None)
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let names: Vec<&str> = listed.body["eventTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"invoice.paid"), "{names:?}");
    let path = "/v1/eventTypes/invoice.paid";
    let got = rest.call("GET", path, Some(&portal), None).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body["schema"], invoice_schema());
    let body = json!({"name": "invoice.voided"});
    let refused = rest
        .call("POST", "/v1/eventTypes", Some(&portal), Some(&body))
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let patch = format!("{path}?updateMask=description");
    let body = json!({"description": "by a portal"});
    let refused = rest.call("PATCH", &patch, Some(&portal), Some(&body)).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        authors(&app, "invoice.paid").await,
        (CATALOGUE_WRITER.into(), "catalogue-editor".into())
    );
}
