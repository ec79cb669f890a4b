//! Debugging deliveries in the console: attempts, the body, a retry.

use super::*;

#[tokio::test]
async fn a_failed_delivery_shows_its_attempts_and_body_and_a_retry_delivers_it()
-> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    receiver.script(
        "/flaky",
        (0..4).map(|_| Reply::status(503).body("down for maintenance")),
    );
    let webhook = app
        .subscribe(&receiver.url("/flaky"), &["member.added"])
        .await
        .webhook
        .unwrap();
    app.publish("member.added", json!({"user": "u1", "role": "ADMIN"}), "")
        .await?;
    receiver.wait_for("/flaky", 4, WAIT).await;
    app.wait_until_settled(WAIT).await;

    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    browser.click(&testid("nav-deliveries")).await?;
    let row = browser
        .wait_for_text(&testid("delivery-row"), "member.added")
        .await?;
    assert!(row.contains("Failed"), "{row}");
    keep_screenshot(&browser, "deliveries-retried").await?;

    browser.click(&testid("delivery-open")).await?;
    browser.wait_for_testid("attempts-table").await?;
    let attempts = texts(&browser, &testid("attempt-row")).await?;
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    for attempt in &attempts {
        assert!(
            attempt.contains("503") && attempt.contains("down for maintenance"),
            "{attempt}"
        );
    }
    // The body, pretty-printed: the very bytes that were sent, re-indented.
    let shown = browser.text(&testid("delivery-payload")).await?;
    let sent: Value = serde_json::from_slice(&receiver.received("/flaky")[0].body)?;
    assert_eq!(serde_json::from_str::<Value>(&shown)?, sent);
    assert!(shown.contains("\n  \"data\": {\n"), "{shown}");
    keep_screenshot(&browser, "delivery-retried").await?;

    // Retried, it goes out once more and the page follows it to success.
    receiver.always("/flaky", 200);
    browser.click(&testid("delivery-retry")).await?;
    receiver.wait_for("/flaky", 5, WAIT).await;
    browser
        .wait_for(&format!(
            "{}[data-status=\"DELIVERY_STATUS_SUCCEEDED\"]",
            testid("delivery-status")
        ))
        .await?;
    let attempts = texts(&browser, &testid("attempt-row")).await?;
    assert_eq!(attempts.len(), 5, "{attempts:?}");
    assert!(attempts[4].contains("200"), "{attempts:?}");
    let deliveries = app.deliveries_of(&webhook.id).await;
    assert_eq!(deliveries[0].status(), DeliveryStatus::Succeeded);
    Ok(())
}

/// `datetime-local` text for the browser's local time `offset_ms` from now.
fn local_input_at(offset_ms: i64) -> String {
    format!(
        "(() => {{ const d = new Date(Date.now() + ({offset_ms})); \
         const p = (n) => String(n).padStart(2, '0'); \
         return `${{d.getFullYear()}}-${{p(d.getMonth() + 1)}}-${{p(d.getDate())}}T${{p(d.getHours())}}:${{p(d.getMinutes())}}`; }})()"
    )
}

async fn set_input(browser: &Browser, id: &str, offset_ms: Option<i64>) -> anyhow::Result<()> {
    let value = match offset_ms {
        Some(offset) => local_input_at(offset),
        None => "''".to_owned(),
    };
    browser
        .eval(&format!(
            "document.querySelector('[data-testid={id}]').value = {value}"
        ))
        .await?;
    Ok(())
}

#[tokio::test]
async fn from_and_to_list_the_deliveries_created_between_them_in_local_time() -> anyhow::Result<()>
{
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    app.subscribe("https://hooks.example.com/ranged", &["member.added"])
        .await;
    for n in 0..3 {
        app.publish("member.added", json!({ "n": n }), "").await?;
    }
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    browser.click(&testid("nav-deliveries")).await?;
    browser.wait_for_testid("deliveries-table").await?;
    assert_eq!(texts(&browser, &testid("delivery-row")).await?.len(), 3);

    // To a day ago: nothing yet; the URL holds the instant the local
    // input names, in UTC.
    const DAY: i64 = 86_400_000;
    set_input(&browser, "filter-to", Some(-DAY)).await?;
    let expected = browser
        .eval("new Date(document.querySelector('[data-testid=filter-to]').value).toISOString()")
        .await?;
    browser.click(&testid("filter-submit")).await?;
    browser
        .wait_for_text(&testid("deliveries-empty"), "No deliveries match")
        .await?;
    let url = browser.current_url().await?;
    let query = url::Url::parse(&url)?;
    let before = query
        .query_pairs()
        .find(|(k, _)| k == "createdBefore")
        .map(|(_, v)| v.into_owned());
    assert_eq!(before.as_deref(), expected.as_str(), "{url}");

    // From a day ago to a day ahead: all three, the inputs kept.
    set_input(&browser, "filter-from", Some(-DAY)).await?;
    set_input(&browser, "filter-to", Some(DAY)).await?;
    browser.click(&testid("filter-submit")).await?;
    browser.wait_for_testid("deliveries-table").await?;
    assert_eq!(texts(&browser, &testid("delivery-row")).await?.len(), 3);
    let kept = browser
        .eval("document.querySelector('[data-testid=filter-from]').value")
        .await?;
    assert!(kept.as_str().is_some_and(|v| v.len() == 16), "{kept}");

    // To before from: the service's reason, next to "To".
    set_input(&browser, "filter-to", Some(-2 * DAY)).await?;
    browser.click(&testid("filter-submit")).await?;
    browser
        .wait_for_text(&testid("field-error-createdBefore"), "later than")
        .await?;
    Ok(())
}
