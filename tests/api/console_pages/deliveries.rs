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
