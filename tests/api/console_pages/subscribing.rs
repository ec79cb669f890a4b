//! Subscribing to the open catalogue in the console: the event checkboxes
//! of the create and edit dialogs (grouped by prefix, deprecated and
//! archived types marked) and the deliveries filter, with a catalogue
//! longer than one page.

use super::catalogue::{add_invoice_types, add_type, archive, invoice_example, plain, type_row};
use super::*;

/// The selector of the dialog's checkbox of `name`.
fn event_box(name: &str) -> String {
    format!("{}[value=\"{name}\"]", testid("webhook-event"))
}

/// The selector of the dialog's label of `name`'s checkbox.
fn event_label(name: &str) -> String {
    format!("label[data-event-type=\"{name}\"]")
}

#[tokio::test]
async fn the_create_dialog_offers_custom_types_grouped_by_prefix_and_subscribes_to_one()
-> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    add_invoice_types(&app).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    browser.click(&testid("webhook-create")).await?;
    browser.wait_for_testid("webhook-dialog").await?;
    // One group per prefix, each with its legend, holding its types; the
    // archived type is not offered.
    let groups = browser
        .eval(
            "Array.from(document.querySelectorAll('[data-testid=event-group]')).map(g => \
             [g.querySelector('legend').textContent, \
              Array.from(g.querySelectorAll('[data-testid=webhook-event]')).map(b => b.value)])",
        )
        .await?;
    let groups: Vec<(String, Vec<String>)> = serde_json::from_value(groups)?;
    let invoice = groups
        .iter()
        .find(|(legend, _)| legend == "invoice")
        .unwrap_or_else(|| panic!("no invoice group in {groups:?}"));
    assert_eq!(invoice.1, ["invoice.paid", "invoice.refunded"]);
    let member = groups
        .iter()
        .find(|(legend, _)| legend == "member")
        .unwrap_or_else(|| panic!("no member group in {groups:?}"));
    assert!(
        member.1.iter().all(|n| n.starts_with("member.")),
        "{groups:?}"
    );
    assert!(
        groups.iter().any(|(legend, _)| legend == "audit"),
        "{groups:?}"
    );
    let offered: Vec<&String> = groups.iter().flat_map(|(_, names)| names).collect();
    assert_eq!(offered.len(), 13 + 3, "{groups:?}");
    // The deprecated type says so.
    let refunded = browser.text(&event_label("invoice.refunded")).await?;
    assert!(refunded.contains("deprecated"), "{refunded}");
    let paid = browser.text(&event_label("invoice.paid")).await?;
    assert!(!paid.contains("deprecated"), "{paid}");
    keep_screenshot(&browser, "create-dialog-groups").await?;
    browser.click(&testid("dialog-cancel")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;

    // Subscribed from the dialog, the webhook gets the custom type's events.
    let url = receiver.url("/invoices");
    create_in_console(&browser, &url, "invoice.paid", "Invoices").await?;
    browser.click(&testid("secret-done")).await?;
    let row = browser
        .wait_for_text(&testid("webhook-row"), "/invoices")
        .await?;
    assert!(row.contains("invoice.paid"), "{row}");
    app.publish("invoice.paid", invoice_example(), "").await?;
    let got = &receiver.wait_for("/invoices", 1, WAIT).await[0];
    assert_eq!(got.json()["type"], "invoice.paid");
    assert_eq!(got.json()["data"], invoice_example());
    Ok(())
}

#[tokio::test]
async fn editing_a_webhook_keeps_an_archived_type_it_has_checked_and_marked() -> anyhow::Result<()>
{
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    add_type(&app, plain("invoice.voided", "An invoice was voided")).await;
    let webhook = app
        .subscribe(
            "https://hooks.example.com/archived",
            &["invoice.voided", "member.added"],
        )
        .await
        .webhook
        .unwrap();
    archive(&app, "invoice.voided").await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;

    row_action(&browser, "", "webhook-edit").await?;
    browser.wait_for_testid("webhook-dialog").await?;
    let voided = browser.wait_for(&event_box("invoice.voided")).await?;
    assert_eq!(voided.prop("checked").await?.as_deref(), Some("true"));
    let label = browser.text(&event_label("invoice.voided")).await?;
    assert!(label.contains("archived"), "{label}");
    let member = browser.wait_for(&event_box("member.added")).await?;
    assert_eq!(member.prop("checked").await?.as_deref(), Some("true"));
    keep_screenshot(&browser, "edit-dialog-archived").await?;

    // Saving another change keeps the archived type.
    browser
        .type_into(&testid("webhook-description-input"), "Still voids")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser
        .wait_for_text(&testid("status-message"), "saved")
        .await?;
    let saved = app.get_webhook(&webhook.id).await?;
    assert_eq!(saved.description, "Still voids");
    let mut events = saved.events.clone();
    events.sort();
    assert_eq!(events, ["invoice.voided", "member.added"]);
    Ok(())
}

#[tokio::test]
async fn every_page_of_a_long_catalogue_reaches_the_pages_dialogs_and_filter() -> anyhow::Result<()>
{
    // More types than the largest page ListEventTypes answers (200).
    const BULK: usize = 201;
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let names: Vec<String> = (0..BULK).map(|n| format!("bulk.t{n:03}")).collect();
    futures_util::future::join_all(names.iter().map(|name| add_type(&app, plain(name, "")))).await;
    add_type(&app, plain("zz.last", "The last of them")).await;
    add_type(&app, plain("zz.gone", "Archived, in the history")).await;
    archive(&app, "zz.gone").await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;

    browser.click(&testid("nav-event-types")).await?;
    browser.wait_for(&type_row("zz.last")).await?;
    let names = texts(&browser, &testid("event-type-name")).await?;
    assert_eq!(
        names.len(),
        13 + BULK + 1,
        "{:?}",
        &names[names.len() - 3..]
    );
    assert!(!names.iter().any(|n| n == "zz.gone"));

    browser.click(&testid("nav-webhooks")).await?;
    browser.click(&testid("webhook-create")).await?;
    browser.wait_for(&event_box("zz.last")).await?;
    let boxes = texts(&browser, &testid("webhook-event")).await?;
    assert_eq!(boxes.len(), 13 + BULK + 1);
    browser.press(Key::Escape).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;

    // The deliveries filter offers archived types too: history holds them.
    browser.click(&testid("nav-deliveries")).await?;
    browser.wait_for_testid("filter-event-type").await?;
    let options = browser
        .eval(
            "Array.from(document.querySelectorAll('[data-testid=filter-event-type] option'))\
             .map(o => o.value)",
        )
        .await?;
    let options: Vec<String> = serde_json::from_value(options)?;
    assert!(options.iter().any(|o| o == "zz.gone"), "{options:?}");
    assert!(options.iter().any(|o| o == "zz.last"), "{options:?}");
    // "Any event type", then every type, archived included.
    assert_eq!(options.len(), 1 + 13 + BULK + 2);

    // A filter on a type the catalogue does not list (that of test events)
    // is still the one the list shows, rather than "Any event type".
    browser
        .goto(&format!(
            "{}?view=deliveries&eventType=webhook.ping",
            console_url(&app)
        ))
        .await?;
    browser.wait_for_testid("filter-event-type").await?;
    let chosen = browser
        .eval("document.querySelector('[data-testid=filter-event-type]').value")
        .await?;
    assert_eq!(chosen, "webhook.ping");
    Ok(())
}
