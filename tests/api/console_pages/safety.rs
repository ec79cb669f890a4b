//! What the console shows when things go wrong or look odd: hostile text as
//! text, refused tokens in words, a phone-sized screen, the keyboard.

use super::*;

#[tokio::test]
async fn hostile_descriptions_and_responses_render_as_text() -> anyhow::Result<()> {
    const HOSTILE: &str = r#"<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>"#;
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    receiver.always_reply("/hostile", Reply::status(500).body(HOSTILE));
    let mut request = app.create_request(&receiver.url("/hostile"), &["member.added"]);
    request.description = HOSTILE.into();
    app.create_webhook(request).await?;
    app.publish("member.added", json!({"note": HOSTILE}), "")
        .await?;
    receiver.wait_for("/hostile", 1, WAIT).await;

    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    let description = browser
        .wait_for_text(&testid("webhook-description"), "<script>")
        .await?;
    assert_eq!(description, HOSTILE);

    browser.click(&testid("nav-deliveries")).await?;
    browser.click(&testid("delivery-open")).await?;
    let excerpt = browser
        .wait_for_text(&testid("attempt-excerpt"), "<img")
        .await?;
    assert_eq!(excerpt, HOSTILE);
    browser
        .wait_for_text(&testid("delivery-payload"), "onerror")
        .await?;

    let injected = browser
        .eval("[window.pwned === undefined, document.querySelectorAll('main img, main script').length]")
        .await?;
    assert_eq!(injected, json!([true, 0]));
    Ok(())
}

#[tokio::test]
async fn a_refused_token_is_explained_in_words_and_leads_back_to_sign_in() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;

    // A member may not manage webhooks: told so, in words.
    browser.goto(&console_url(&app)).await?;
    browser
        .type_into(&testid("signin-token"), &app.token("MEMBER"))
        .await?;
    browser
        .type_into(&testid("signin-org"), &app.organization.to_string())
        .await?;
    browser.click(&testid("signin-submit")).await?;
    let error = browser
        .wait_for_text(&testid("error-message"), "owners and admins")
        .await?;
    assert!(
        !error.contains("PERMISSION_DENIED") && !error.contains("403"),
        "{error}"
    );

    // A token the service refuses ends the session.
    browser.click(&testid("signout")).await?;
    browser
        .type_into(&testid("signin-token"), "not.a.token")
        .await?;
    browser
        .type_into(&testid("signin-org"), &app.organization.to_string())
        .await?;
    browser.click(&testid("signin-submit")).await?;
    browser
        .wait_for_text(&testid("signin-reason"), "Sign in again")
        .await?;
    assert_eq!(browser.eval("sessionStorage.length").await?, 0);
    keep_screenshot(&browser, "sign-in").await?;
    Ok(())
}

#[tokio::test]
async fn on_a_phone_the_pages_fit_the_screen_and_the_keyboard_works_the_dialogs()
-> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    // A long URL, as real endpoints have, must wrap rather than widen the page.
    let path = format!("/phone/{}", "a-rather-long-path-segment".repeat(4));
    receiver.always(&path, 200);
    app.subscribe(
        &receiver.url(&path),
        &["member.added", "member.removed", "invite.created"],
    )
    .await;
    app.publish("member.added", json!({}), "").await?;
    receiver.wait_for(&path, 1, WAIT).await;
    app.wait_until_settled(WAIT).await;

    let browser = Browser::start().await?;
    browser.set_viewport(375, 800).await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    let fits = "document.documentElement.scrollWidth <= window.innerWidth";
    browser.wait_for_testid("webhook-row").await?;
    assert_eq!(
        browser.eval(fits).await?,
        true,
        "the webhooks page scrolls sideways"
    );
    keep_screenshot(&browser, "phone-long-url").await?;

    // The keyboard opens the create dialog, which takes the focus, and
    // Escape closes it.
    browser
        .eval("document.querySelector('[data-testid=webhook-create]').focus()")
        .await?;
    browser.press(Key::Enter).await?;
    browser.wait_for_testid("webhook-dialog").await?;
    let focused = browser
        .eval("document.querySelector('[data-testid=webhook-dialog]').contains(document.activeElement)")
        .await?;
    assert_eq!(focused, true);
    browser.press(Key::Escape).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;

    browser.click(&testid("nav-deliveries")).await?;
    browser.wait_for_testid("delivery-row").await?;
    assert_eq!(
        browser.eval(fits).await?,
        true,
        "the deliveries page scrolls sideways"
    );
    browser.click(&testid("delivery-open")).await?;
    browser.wait_for_testid("delivery-payload").await?;
    assert_eq!(
        browser.eval(fits).await?,
        true,
        "a delivery's page scrolls sideways"
    );
    Ok(())
}
