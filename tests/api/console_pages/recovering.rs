//! A webhook the service disabled, recovered from the console: its row's
//! menu (by keyboard), the Recover dialog with its `since`, the result and
//! the errors in words.

use super::*;

/// WEBHOOK_DISABLE_AFTER here.
const LIMIT: Duration = Duration::from_millis(600);

/// A service that makes one attempt per delivery and disables a webhook
/// failing for [`LIMIT`], and a webhook at `/down` it disabled after
/// failing some deliveries; returns them and how many failed.
async fn disabled_webhook(receiver: &Receiver) -> anyhow::Result<(TestApp, String, usize)> {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        deliver_to(receiver)(s);
        s.retry_schedule = "".into();
        s.disable_after = LIMIT;
    })
    .await;
    receiver.always("/down", 503);
    let webhook = app
        .subscribe(&receiver.url("/down"), &["member.added"])
        .await
        .webhook
        .unwrap();
    // Published until the webhook has failed for longer than the limit.
    let deadline = std::time::Instant::now() + WAIT;
    while app
        .get_webhook(&webhook.id)
        .await?
        .disabled_reason
        .is_empty()
    {
        anyhow::ensure!(std::time::Instant::now() < deadline, "never disabled");
        app.publish("member.added", json!({"user": "u1"}), "")
            .await?;
        app.wait_until_settled(WAIT).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let failed = app.deliveries_of(&webhook.id).await.len();
    Ok((app, webhook.id, failed))
}

#[tokio::test]
async fn recover_enables_a_disabled_webhook_and_resends_what_it_missed() -> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let (app, id, failed) = disabled_webhook(&receiver).await?;
    let sent_before = receiver.received("/down").len();
    receiver.always("/down", 200);
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser
        .wait_for_text(&testid("webhook-state"), "Disabled by the service")
        .await?;

    // The row's menu by keyboard: Enter opens it, Escape closes it and
    // leaves the focus on it; the row keeps one action in view.
    browser
        .eval("document.querySelector('[data-testid=webhook-menu]').focus()")
        .await?;
    browser.press(Key::Enter).await?;
    browser.wait_for_testid("webhook-recover").await?;
    browser.press(Key::Escape).await?;
    browser
        .wait_until_hidden(&testid("webhook-recover"))
        .await?;
    let focused = browser
        .eval("document.activeElement.dataset.testid")
        .await?;
    assert_eq!(focused, "webhook-menu");
    browser.press(Key::Enter).await?;
    browser.wait_for_testid("webhook-recover").await?;
    // Edit, Resume, then Recover.
    for _ in 0..3 {
        browser.press(Key::Tab).await?;
    }
    assert_eq!(
        browser
            .eval("document.activeElement.dataset.testid")
            .await?,
        "webhook-recover"
    );
    browser.press(Key::Enter).await?;
    browser.wait_for_testid("recover-dialog").await?;

    // `since` is offered: no later than when the webhook started failing,
    // so that every failure of the run is resent.
    let since = browser
        .eval("new Date(document.querySelector('[data-testid=recover-since]').value).getTime()")
        .await?;
    let failing_since = app.get_webhook(&id).await?.failing_since.unwrap();
    let failing_ms = failing_since.seconds * 1000 + i64::from(failing_since.nanos) / 1_000_000;
    assert!(
        since.as_i64().is_some_and(|ms| ms <= failing_ms),
        "since {since}, failing since {failing_ms}"
    );
    keep_screenshot(&browser, "recover").await?;

    browser.click(&testid("recover-submit")).await?;
    let said = browser
        .wait_for_text(&testid("status-message"), "scheduled again")
        .await?;
    assert!(
        said.contains("enabled again") && said.contains(&format!("{failed} deliveries were")),
        "{said}"
    );
    receiver.wait_for("/down", sent_before + failed, WAIT).await;
    let webhook = app.get_webhook(&id).await?;
    assert!(webhook.enabled && webhook.disabled_reason.is_empty());
    browser
        .wait_for_text(&testid("webhook-state"), "Active")
        .await?;
    Ok(())
}

#[tokio::test]
async fn recover_says_in_words_why_it_failed() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let webhook = app
        .subscribe("https://hooks.example.com/gone", &["member.added"])
        .await
        .webhook
        .unwrap();
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    row_action(&browser, "", "webhook-pause").await?;
    browser
        .wait_for_text(&testid("webhook-state"), "Paused")
        .await?;

    // No time picked: said next to the field, nothing is called.
    row_action(&browser, "", "webhook-recover").await?;
    browser.wait_for_testid("recover-dialog").await?;
    browser
        .eval("document.querySelector('[data-testid=recover-since]').value = ''")
        .await?;
    browser.click(&testid("recover-submit")).await?;
    browser
        .wait_for_text(&testid("dialog-error"), "Pick the date and time")
        .await?;
    assert!(!app.get_webhook(&webhook.id).await?.enabled);

    // Deleted meanwhile: the service's answer, in words.
    app.delete_webhook(&webhook.id).await?;
    browser
        .eval("document.querySelector('[data-testid=recover-since]').value = '2026-01-01T00:00'")
        .await?;
    browser.click(&testid("recover-submit")).await?;
    browser
        .wait_for_text(&testid("dialog-error"), "Not found")
        .await?;
    Ok(())
}
