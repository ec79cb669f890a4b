//! A webhook's filter in the console: written in the create and edit
//! dialogs (a refused one explained next to the field), shown in the list,
//! and tried on a sample event ("Try it") without anything being stored or
//! sent.

use super::catalogue::{add_invoice_types, invoice_example};
use super::*;

/// A two-line filter: the list shows it on one line.
const AMOUNT_FILTER: &str = "data.amount > 1000 &&\ntype == \"member.added\"";

/// The webhook rows' filters as the list shows them: (text, title).
async fn listed_filters(browser: &Browser) -> anyhow::Result<Vec<(String, String)>> {
    let found = browser
        .eval(
            "Array.from(document.querySelectorAll('[data-testid=webhook-filter] [data-testid=truncated]'))\
             .map(e => [e.textContent, e.title])",
        )
        .await?;
    Ok(serde_json::from_value(found)?)
}

/// Opens the create dialog and fills in the URL and one event type.
async fn start_creating(browser: &Browser, url: &str, event: &str) -> anyhow::Result<()> {
    browser.click(&testid("webhook-create")).await?;
    browser.wait_for_testid("webhook-dialog").await?;
    browser.type_into(&testid("webhook-url-input"), url).await?;
    browser
        .click(&format!("{}[value=\"{event}\"]", testid("webhook-event")))
        .await?;
    Ok(())
}

/// Counts the page's `fetch` calls from now on, in `window.fetches`.
async fn count_fetches(browser: &Browser) -> anyhow::Result<()> {
    browser
        .eval(
            "(() => { window.fetches = 0; const f = window.fetch; \
             window.fetch = (...a) => { window.fetches += 1; return f(...a); }; return true; })()",
        )
        .await?;
    Ok(())
}

/// Presses Try and waits for a verdict of `kind`; returns its text.
async fn try_for(browser: &Browser, kind: &str) -> anyhow::Result<String> {
    browser.click(&testid("try-submit")).await?;
    browser
        .text(&format!(
            "{}[data-verdict=\"{kind}\"]",
            testid("try-result")
        ))
        .await
}

#[tokio::test]
async fn a_webhook_created_with_a_filter_in_the_console_gets_only_the_events_it_matches()
-> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    start_creating(&browser, &receiver.url("/big"), "member.added").await?;
    browser
        .type_into(&testid("webhook-filter-input"), AMOUNT_FILTER)
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.click(&testid("secret-done")).await?;

    // The list shows it on one line, as written on hover.
    browser.wait_for_testid("webhook-filter").await?;
    let shown = listed_filters(&browser).await?;
    assert_eq!(
        shown,
        [(
            "data.amount > 1000 && type == \"member.added\"".to_owned(),
            AMOUNT_FILTER.to_owned()
        )]
    );
    let row = browser.text(&testid("webhook-events")).await?;
    assert!(row.contains("only if"), "{row}");

    // Saved as typed, and applied at publish.
    let id = browser
        .eval("document.querySelector('[data-testid=webhook-row]').dataset.webhookId")
        .await?;
    let id = id.as_str().unwrap_or_default();
    assert_eq!(app.get_webhook(id).await?.filter, AMOUNT_FILTER);
    app.publish("member.added", json!({"amount": 10}), "")
        .await?;
    app.publish("member.added", json!({"amount": 1500}), "")
        .await?;
    let got = receiver.wait_for("/big", 1, WAIT).await;
    assert_eq!(got[0].json()["data"], json!({"amount": 1500}));
    assert_eq!(app.deliveries_of(id).await.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_refused_filter_is_explained_next_to_its_field_and_what_was_typed_stays()
-> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    start_creating(&browser, "https://hooks.example.com/bad", "member.added").await?;
    let typed = "labels.region ==";
    browser
        .type_into(&testid("webhook-filter-input"), typed)
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    let message = browser
        .wait_for_text(&testid("field-error-filter"), "line 1, column")
        .await?;
    assert!(message.starts_with("line 1, column "), "{message}");
    // The field is marked and has the focus; the dialog and the text stay.
    let state = browser
        .eval(
            "(() => { const f = document.querySelector('[data-testid=webhook-filter-input]'); \
             return [f.value, f.getAttribute('aria-invalid'), document.activeElement === f]; })()",
        )
        .await?;
    assert_eq!(state, json!([typed, "true", true]));
    keep_screenshot(&browser, "filter-refused").await?;

    // Mended, it is saved.
    browser
        .type_into(&testid("webhook-filter-input"), "labels.region == \"eu\"")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.click(&testid("secret-done")).await?;
    browser.wait_for_testid("webhook-filter").await?;
    let shown = listed_filters(&browser).await?;
    assert_eq!(shown[0].0, "labels.region == \"eu\"");
    Ok(())
}

#[tokio::test]
async fn try_it_on_the_catalogue_example_says_matched_not_matched_or_failed_and_stores_nothing()
-> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    add_invoice_types(&app).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    start_creating(&browser, "https://hooks.example.com/try", "invoice.paid").await?;
    let filter = testid("webhook-filter-input");
    browser.type_into(&filter, "data.amount > 1000").await?;
    browser.click(&testid("try-toggle")).await?;
    // The sample: the first chosen type, with the catalogue's example.
    let sample = browser
        .eval(
            "[document.querySelector('[data-testid=try-type]').value, \
              JSON.parse(document.querySelector('[data-testid=try-data]').value)]",
        )
        .await?;
    assert_eq!(sample, json!(["invoice.paid", invoice_example()]));

    let matched = try_for(&browser, "matched").await?;
    assert_eq!(matched, "matches — would be delivered");
    keep_screenshot(&browser, "filter-try").await?;
    browser.type_into(&filter, "data.amount > 5000").await?;
    assert_eq!(try_for(&browser, "no-match").await?, "does not match");

    // A filter that fails on this event, with hostile text in the reason.
    browser
        .type_into(
            &filter,
            r#"data["<img src=x onerror=window.pwned=1>"] == 1"#,
        )
        .await?;
    let failed = try_for(&browser, "error").await?;
    assert_eq!(
        failed,
        "fails on this event: no such key: <img src=x onerror=window.pwned=1> (counted as no match)"
    );
    let injected = browser
        .eval("document.querySelectorAll('dialog img').length")
        .await?;
    assert_eq!(injected, json!(0));

    // Labels, as key=value lines.
    browser
        .type_into(
            &filter,
            "labels.region == \"eu\" && data.currency == \"EUR\"",
        )
        .await?;
    browser
        .type_into(&testid("try-labels"), "region = eu\nteam=billing")
        .await?;
    try_for(&browser, "matched").await?;
    // A key the service refuses is named next to the labels.
    browser
        .type_into(&testid("try-labels"), "Region=eu")
        .await?;
    try_for(&browser, "refused").await?;
    let refused = browser.text(&testid("field-error-labels")).await?;
    assert!(refused.contains("Region"), "{refused}");

    // A filter that does not compile: its position, next to the filter.
    browser.type_into(&testid("try-labels"), "").await?;
    browser.type_into(&filter, "data.amount >").await?;
    let verdict = try_for(&browser, "refused").await?;
    assert!(verdict.contains("next to it"), "{verdict}");
    let compile = browser.text(&testid("field-error-filter")).await?;
    assert!(compile.starts_with("line 1, column "), "{compile}");

    // A sample that is not JSON, or a line that is not key=value: said in
    // the panel, and nothing is called.
    browser.type_into(&filter, "true").await?;
    count_fetches(&browser).await?;
    browser
        .type_into(&testid("try-data"), "{\"amount\": 12,}")
        .await?;
    try_for(&browser, "problem").await?;
    let data_error = browser.text(&testid("field-error-data")).await?;
    assert!(data_error.starts_with("Not valid JSON"), "{data_error}");
    browser.type_into(&testid("try-data"), "[1, 2]").await?;
    try_for(&browser, "problem").await?;
    let data_error = browser.text(&testid("field-error-data")).await?;
    assert!(data_error.contains("JSON object"), "{data_error}");
    browser.type_into(&testid("try-data"), "{}").await?;
    browser.type_into(&testid("try-labels"), "region").await?;
    try_for(&browser, "problem").await?;
    let labels_error = browser.text(&testid("field-error-labels")).await?;
    assert!(labels_error.contains("key=value"), "{labels_error}");
    // No filter matches every event: nothing to ask.
    browser.type_into(&testid("try-labels"), "").await?;
    browser.type_into(&filter, "").await?;
    let everything = try_for(&browser, "matched").await?;
    assert!(everything.contains("no filter"), "{everything}");
    assert_eq!(browser.eval("window.fetches").await?, json!(0));

    // Enter in the sample's type tries; it does not create the webhook.
    browser.type_into(&filter, "true").await?;
    browser
        .type_into(&testid("try-type"), "invoice.paid")
        .await?;
    browser.press(Key::Enter).await?;
    browser
        .wait_for(&format!(
            "{}[data-verdict=\"matched\"]",
            testid("try-result")
        ))
        .await?;
    assert_eq!(browser.eval("window.fetches").await?, json!(1));
    assert_eq!(browser.eval("window.pwned === undefined").await?, true);

    // Tried, never saved nor sent: no webhook, no event.
    browser.click(&testid("dialog-cancel")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;
    let listed = app
        .webhooks()
        .await
        .list_webhooks(authorized(
            webhook_service::grpc::proto::ListWebhooksRequest {
                organization_id: app.organization.to_string(),
                ..Default::default()
            },
            &app.token("OWNER"),
        ))
        .await?
        .into_inner();
    assert!(listed.webhooks.is_empty(), "{:?}", listed.webhooks);
    assert!(app.deliveries().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn editing_shows_the_filter_tries_it_and_an_emptied_field_removes_it() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let mut request = app.create_request(
        "https://hooks.example.com/edit",
        &["member.removed", "member.added"],
    );
    request.filter = "labels.region == \"eu\"".into();
    let webhook = app.create_webhook(request).await?.webhook.unwrap();
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    browser.wait_for_testid("webhook-filter").await?;

    row_action(&browser, "", "webhook-edit").await?;
    let input = browser.wait_for_testid("webhook-filter-input").await?;
    assert_eq!(
        input.prop("value").await?.as_deref(),
        Some("labels.region == \"eu\"")
    );
    // The sample's type is the first type of the dialog that is checked,
    // filled in when the panel's `toggle` event (a task of its own) runs.
    browser.click(&testid("try-toggle")).await?;
    browser
        .wait_until("document.querySelector('[data-testid=try-type]').value !== ''")
        .await?;
    let first = browser
        .eval(
            "[document.querySelector('[data-testid=try-type]').value, \
              document.querySelector('[data-testid=webhook-event]:checked').value]",
        )
        .await?;
    assert_eq!(first[0], first[1]);
    browser
        .type_into(&testid("try-labels"), "region=us")
        .await?;
    assert_eq!(try_for(&browser, "no-match").await?, "does not match");
    browser
        .type_into(&testid("try-labels"), "region=eu")
        .await?;
    try_for(&browser, "matched").await?;
    keep_screenshot(&browser, "filter-edit").await?;

    browser
        .type_into(&testid("webhook-filter-input"), "")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser
        .wait_for_text(&testid("status-message"), "saved")
        .await?;
    assert_eq!(app.get_webhook(&webhook.id).await?.filter, "");
    browser.wait_until_hidden(&testid("webhook-filter")).await?;
    Ok(())
}
