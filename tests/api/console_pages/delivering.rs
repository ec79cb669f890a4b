//! How a webhook's deliveries go out, set in the console's dialogs: the
//! rate limit, ordering by key and the retry schedule, written as people
//! write waits ("100ms, 2s") and read back the same way; and the signature
//! scheme, chosen at creation, with an ed25519 webhook's public key shown.

use webhook_service::grpc::proto::{Ordering, SignatureScheme, Webhook};

use super::*;

fn schedule_millis(webhook: &Webhook) -> Vec<i64> {
    webhook
        .retry_schedule
        .iter()
        .map(|d| d.seconds * 1000 + i64::from(d.nanos) / 1_000_000)
        .collect()
}

#[tokio::test]
async fn the_dialogs_set_and_show_the_rate_limit_ordering_and_retry_schedule() -> anyhow::Result<()>
{
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    open_create_dialog(
        &browser,
        "https://hooks.example.com/settings",
        "member.added",
    )
    .await?;
    browser
        .type_into(&testid("webhook-rate-limit-input"), "5")
        .await?;
    browser.click(&testid("webhook-ordered-input")).await?;

    // What is not a wait is refused in the dialog, next to its field, and
    // nothing is created.
    browser
        .type_into(&testid("webhook-retry-schedule-input"), "5 minutes")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    let refusal = browser
        .wait_for_text(&testid("field-error-retrySchedule"), "not a wait")
        .await?;
    assert!(refusal.contains("“5”"), "{refusal}");
    // The service's own refusal lands in the same place: 21 steps.
    browser
        .type_into(&testid("webhook-retry-schedule-input"), &"1s ".repeat(21))
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser
        .wait_for_text(&testid("field-error-retrySchedule"), "20")
        .await?;
    assert!(app.list_webhooks().await.is_empty());

    browser
        .type_into(&testid("webhook-retry-schedule-input"), "100ms, 2s,1h")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_for_testid("secret-value").await?;
    browser.click(&testid("secret-done")).await?;
    let created = app.list_webhooks().await;
    assert_eq!(created.len(), 1);
    let webhook = &created[0];
    assert_eq!(webhook.rate_limit_per_second, 5);
    assert_eq!(webhook.ordering, Ordering::Ordered as i32);
    assert_eq!(schedule_millis(webhook), [100, 2_000, 3_600_000]);
    let settings = browser
        .wait_for_text(&testid("webhook-settings"), "Ordered")
        .await?;
    assert_eq!(
        settings,
        "Ordered by key · At most 5/s · Retries after 100ms, 2s, 1h"
    );
    keep_screenshot(&browser, "delivery-settings").await?;

    // The edit dialog shows them as they were written; clearing them goes
    // back to the defaults.
    row_action(&browser, "", "webhook-edit").await?;
    browser.wait_for_testid("webhook-dialog").await?;
    let shown = browser
        .eval(
            "['webhook-rate-limit-input', 'webhook-retry-schedule-input'].map(id => \
             document.querySelector(`[data-testid=${id}]`).value)\
             .concat([document.querySelector('[data-testid=webhook-ordered-input]').checked])",
        )
        .await?;
    assert_eq!(shown, json!(["5", "100ms, 2s, 1h", true]));
    browser
        .type_into(&testid("webhook-rate-limit-input"), "")
        .await?;
    browser.click(&testid("webhook-ordered-input")).await?;
    browser
        .type_into(&testid("webhook-retry-schedule-input"), "")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;
    let saved = app.get_webhook(&webhook.id).await?;
    assert_eq!(saved.rate_limit_per_second, 0);
    assert_eq!(saved.ordering, Ordering::Unordered as i32);
    assert!(saved.retry_schedule.is_empty(), "{saved:?}");
    browser
        .wait_until_hidden(&testid("webhook-settings"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn saving_other_fields_leaves_the_delivery_settings_out_of_the_update() -> anyhow::Result<()>
{
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let mut request = app.create_request("https://hooks.example.com/kept", &["member.added"]);
    request.ordering = Ordering::Ordered as i32;
    let webhook = app.create_webhook(request).await?.webhook.unwrap();
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;

    // The mask of the update the dialog sends, seen on its way out.
    watch_masks(&browser).await?;
    row_action(&browser, "", "webhook-edit").await?;
    browser.wait_for_testid("webhook-dialog").await?;
    browser
        .type_into(&testid("webhook-description-input"), "Renamed")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;
    assert_eq!(
        browser.eval("window.masks").await?,
        json!(["events,filter,description"])
    );
    let saved = app.get_webhook(&webhook.id).await?;
    assert_eq!(saved.description, "Renamed");
    assert_eq!(saved.ordering, Ordering::Ordered as i32);
    Ok(())
}

#[tokio::test]
async fn an_ed25519_webhook_made_in_the_console_shows_its_public_key_and_rotates_to_a_new_one()
-> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    open_create_dialog(&browser, "https://hooks.example.com/keys", "member.added").await?;
    browser
        .eval(
            "(() => { const s = document.querySelector('[data-testid=webhook-scheme-input]'); \
             s.value = 'SIGNATURE_SCHEME_ED25519'; s.dispatchEvent(new Event('change')); })()",
        )
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    // The public key, said to be no secret; the private key never leaves.
    let shown = browser
        .wait_for_testid("secret-value")
        .await?
        .text()
        .await?;
    assert!(shown.starts_with("whpk_"), "{shown}");
    let note = browser.text(&testid("public-key-note")).await?;
    assert!(note.contains("not a secret"), "{note}");
    let webhook = app.list_webhooks().await.remove(0);
    assert_eq!(webhook.signature_scheme(), SignatureScheme::Ed25519);
    assert_eq!(webhook.public_key, shown);
    keep_screenshot(&browser, "ed25519-public-key").await?;
    browser.click(&testid("secret-done")).await?;
    browser
        .wait_for_text(&testid("webhook-settings"), "Signed with ed25519")
        .await?;

    // Rotation shows the new public key, the one the webhook now has.
    row_action(&browser, "", "webhook-rotate").await?;
    browser.click(&testid("confirm-accept")).await?;
    let rotated = browser
        .wait_for_testid("secret-value")
        .await?
        .text()
        .await?;
    assert!(
        rotated.starts_with("whpk_") && rotated != shown,
        "{rotated}"
    );
    assert_eq!(app.get_webhook(&webhook.id).await?.public_key, rotated);
    Ok(())
}
