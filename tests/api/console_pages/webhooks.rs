//! Managing webhooks in the console: create and the secret shown once, pause
//! and resume, test events, rotation, the deliveries filter, deletion.

use super::*;

#[tokio::test]
async fn an_admin_signs_in_creates_a_webhook_and_the_secret_shown_once_signs_its_deliveries()
-> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    let secret = create_in_console(
        &browser,
        &receiver.url("/console"),
        "member.added",
        "Billing",
    )
    .await?;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let warning = browser.text(&testid("secret-dialog")).await?;
    assert!(warning.contains("you will not see it again"), "{warning}");
    keep_screenshot(&browser, "secret").await?;

    // The token lives in this tab's session storage and nowhere else.
    let stored = browser
        .eval("[Object.keys(localStorage).length, document.cookie, location.href]")
        .await?;
    assert_eq!(stored[0], 0);
    assert_eq!(stored[1], "");
    assert!(!stored[2].as_str().unwrap().contains("token"), "{stored}");
    let in_session = browser
        .eval("Object.values(sessionStorage).join(' ')")
        .await?;
    assert!(
        in_session
            .as_str()
            .unwrap()
            .contains(&app.token("ADMIN")[..20])
    );

    // Once closed, the secret leaves the page; the list shows the webhook.
    browser.click(&testid("secret-done")).await?;
    browser.wait_until_hidden(&testid("secret-value")).await?;
    let row = browser
        .wait_for_text(&testid("webhook-row"), "/console")
        .await?;
    assert!(
        row.contains("member.added") && row.contains("Billing") && row.contains("Active"),
        "{row}"
    );
    let page = browser.eval("document.body.innerText").await?;
    assert!(
        !page.as_str().unwrap().contains(&secret),
        "the secret is still on the page"
    );
    keep_screenshot(&browser, "webhook-created").await?;

    // The secret shown is the one the service signs with.
    app.publish("member.added", json!({"user": "u1"}), "")
        .await?;
    let got = &receiver.wait_for("/console", 1, WAIT).await[0];
    assert!(
        got.header("webhook-signature")
            .contains(&standard_signature(&secret, got)),
        "the shown secret does not sign the delivery"
    );
    Ok(())
}

#[tokio::test]
async fn pausing_and_resuming_in_the_console_pauses_and_resumes_the_webhook() -> anyhow::Result<()>
{
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let webhook = app
        .subscribe("https://hooks.example.com/pause", &["member.added"])
        .await
        .webhook
        .unwrap();
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;

    row_action(&browser, "", "webhook-pause").await?;
    browser
        .wait_for_text(&testid("webhook-state"), "Paused")
        .await?;
    assert!(!app.get_webhook(&webhook.id).await?.enabled);

    row_action(&browser, "", "webhook-resume").await?;
    browser
        .wait_for_text(&testid("webhook-state"), "Active")
        .await?;
    assert!(app.get_webhook(&webhook.id).await?.enabled);
    Ok(())
}

#[tokio::test]
async fn test_events_rotation_filters_and_deletion_work_from_the_console() -> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    receiver.always("/managed", 200);
    receiver.always("/broken", 500);
    let created = app
        .subscribe(&receiver.url("/managed"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();
    app.subscribe(&receiver.url("/broken"), &["member.added"])
        .await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    let managed = format!("[data-webhook-id=\"{}\"] ", webhook.id);

    // A test event, followed from its link to its delivery.
    row_action(&browser, &managed, "webhook-test").await?;
    browser.click(&testid("test-delivery-link")).await?;
    browser
        .wait_for(&format!(
            "{}[data-status=\"DELIVERY_STATUS_SUCCEEDED\"]",
            testid("delivery-status")
        ))
        .await?;
    let ping = &receiver.wait_for("/managed", 1, WAIT).await[0];
    assert_eq!(ping.json()["type"], "webhook.ping");

    // The deliveries log, filtered to the failed ones: only /broken's.
    app.publish("member.added", json!({}), "").await?;
    receiver.wait_for("/managed", 2, WAIT).await;
    app.wait_until_settled(WAIT).await;
    browser.click(&testid("nav-deliveries")).await?;
    browser.wait_for_testid("delivery-row").await?;
    browser
        .eval(
            "(() => { const s = document.querySelector('[data-testid=filter-status]'); \
             s.value = 'DELIVERY_STATUS_FAILED'; s.dispatchEvent(new Event('change')); })()",
        )
        .await?;
    browser.click(&testid("filter-submit")).await?;
    browser
        .wait_until("location.search.includes('DELIVERY_STATUS_FAILED')")
        .await?;
    browser.wait_for_testid("delivery-row").await?;
    let statuses = browser
        .eval("Array.from(document.querySelectorAll('[data-testid=delivery-row] [data-testid=delivery-status]')).map(e => e.dataset.status)")
        .await?;
    assert_eq!(statuses, json!(["DELIVERY_STATUS_FAILED"]));

    // Rotation: confirmed, the new secret shown once; both sign until the
    // overlap ends.
    browser.click(&testid("nav-webhooks")).await?;
    row_action(&browser, &managed, "webhook-rotate").await?;
    browser.click(&testid("confirm-accept")).await?;
    let rotated = browser
        .wait_for_testid("secret-value")
        .await?
        .text()
        .await?;
    assert!(
        rotated.starts_with("whsec_") && rotated != created.secret,
        "{rotated}"
    );
    browser.wait_for_testid("secret-overlap").await?;
    browser.click(&testid("secret-done")).await?;
    app.publish("member.added", json!({}), "").await?;
    let after = &receiver.wait_for("/managed", 3, WAIT).await[2];
    let signatures = after.header("webhook-signature");
    assert!(
        signatures.contains(&standard_signature(&rotated, after)),
        "{signatures}"
    );
    assert!(
        signatures.contains(&standard_signature(&created.secret, after)),
        "{signatures}"
    );

    // Deletion asks first; Cancel keeps the webhook, confirming deletes it.
    row_action(&browser, &managed, "webhook-delete").await?;
    browser.click(&testid("confirm-cancel")).await?;
    browser.wait_until_hidden(&testid("confirm-dialog")).await?;
    assert!(app.get_webhook(&webhook.id).await.is_ok());
    row_action(&browser, &managed, "webhook-delete").await?;
    browser.click(&testid("confirm-accept")).await?;
    browser
        .wait_until(&format!(
            "document.querySelector('{}') === null",
            managed.trim()
        ))
        .await?;
    assert_eq!(texts(&browser, &testid("webhook-row")).await?.len(), 1);
    let gone = app.get_webhook(&webhook.id).await.unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn each_webhook_shows_its_last_day_success_rate_and_newest_delivery() -> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/last-day"), &["member.added"])
        .await;
    app.subscribe(&receiver.url("/quiet"), &["member.removed"])
        .await;
    receiver.always("/last-day", 200);
    for n in 0..2 {
        app.publish("member.added", json!({ "n": n }), "").await?;
    }
    app.wait_until_settled(WAIT).await;
    receiver.always("/last-day", 503);
    app.publish("member.added", json!({ "n": 2 }), "").await?;
    app.wait_until_settled(WAIT).await;

    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    let busy = format!(
        "{} {}",
        testid("webhook-row"),
        testid("webhook-last-day-text")
    );
    browser.wait_for(&busy).await?;
    let lines = texts(&browser, &testid("webhook-last-day-text")).await?;
    // Newest first: the quiet one, then the busy one.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "no deliveries", "{lines:?}");
    let shown_time = browser
        .eval(&format!(
            "document.querySelectorAll({})[1].textContent.split(' · last ')[1]",
            serde_json::to_string(&testid("webhook-last-day-text"))?
        ))
        .await?;
    assert!(lines[1].starts_with("66.6% of 3 · last "), "{lines:?}");
    assert!(lines[1].ends_with(" ✗"), "{lines:?}");
    // The console's one time format: local time with its offset.
    let time = shown_time
        .as_str()
        .unwrap_or_default()
        .trim_end_matches(" ✗");
    assert_eq!(time.len(), "2026-12-06 09:07:07 +00:00".len(), "{time}");
    let outcome = browser
        .eval(&format!(
            "document.querySelectorAll({})[1].dataset.outcome",
            serde_json::to_string(&testid("webhook-last-day-text"))?
        ))
        .await?;
    assert_eq!(outcome, "failed");
    Ok(())
}
