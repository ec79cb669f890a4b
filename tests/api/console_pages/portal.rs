//! Portal links in the browser: the console for one organization, in a
//! host application's frame where frame-ancestors allow it.

use super::*;

#[tokio::test]
async fn a_portal_link_opens_the_console_for_its_organization_only() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let other = Uuid::new_v4();
    app.subscribe("https://hooks.example.com/ours", &["member.added"])
        .await;
    app.subscribe_for(other, "https://hooks.example.com/theirs", &["member.added"])
        .await;
    let link = app.create_portal_link(&app.token("OWNER"), None).await?.url;
    assert!(link.starts_with(&console_url(&app)), "{link}");

    let browser = Browser::start().await?;
    browser.goto(&link).await?;
    let row = browser.wait_for_testid("webhook-row").await?.text().await?;
    assert!(row.contains("/ours"), "{row}");
    assert_eq!(texts(&browser, &testid("webhook-row")).await?.len(), 1);
    let org = session_organization(&browser).await?;
    assert_eq!(org, app.organization.to_string());
    browser
        .wait_for_text(&testid("session-expiry"), "Session ends at")
        .await?;
    // The token left the address bar at once, into this tab's session.
    assert!(!browser.current_url().await?.contains('#'));
    let kept = browser
        .eval("Object.values(sessionStorage).join(' ')")
        .await?;
    assert!(kept.as_str().unwrap().contains(&token_of_link(&link)));
    keep_screenshot(&browser, "portal").await?;

    // The same token, asked for the other organization from the page, is refused.
    let theirs = format!(
        "fetch('/v1/organizations/{other}/webhooks', {{headers: {{authorization: 'Bearer {}'}}}}).then(r => r.status)",
        token_of_link(&link)
    );
    assert_eq!(browser.eval(&theirs).await?, 403);
    Ok(())
}

/// The URLs of `organization`'s webhooks, as its owner lists them.
async fn webhook_urls_of(app: &TestApp, organization: Uuid) -> Vec<String> {
    let answer = app
        .rest()
        .call(
            "GET",
            &format!("/v1/organizations/{organization}/webhooks"),
            Some(&app.token_for(organization, "OWNER")),
            None,
        )
        .await;
    let webhooks = answer.body["webhooks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    webhooks
        .iter()
        .map(|w| w["url"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The token this tab's session holds.
async fn session_token(browser: &Browser) -> anyhow::Result<String> {
    let token = browser
        .eval("sessionStorage.getItem('webhookConsole.token')")
        .await?;
    Ok(token.as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_link_to_another_organization_asks_before_replacing_the_session() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let (ours, theirs) = (app.organization, Uuid::new_v4());
    app.subscribe_for(
        theirs,
        "https://hooks.example.com/theirs",
        &["member.added"],
    )
    .await;
    // Someone else's link: a portal link to their own organization.
    let their_link = app
        .create_portal_link_for(theirs, &app.token_for(theirs, "OWNER"), None)
        .await?
        .url;
    let our_token = app.token("OWNER");
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &our_token, ours).await?;
    let header = session_organization(&browser).await?;
    assert_eq!(header, ours.to_string());

    // A fresh load of their link (another page of the console was open).
    browser.click(&testid("nav-deliveries")).await?;
    browser.wait_for_testid("deliveries-page").await?;
    browser.goto(&their_link).await?;
    let question = browser
        .wait_for_testid("switch-dialog")
        .await?
        .text()
        .await?;
    assert!(
        question.contains(&ours.to_string()) && question.contains(&theirs.to_string()),
        "the question names both organizations: {question}"
    );
    // Until answered, this tab stays ours, and the link left the address.
    assert_eq!(session_token(&browser).await?, our_token);
    let header = session_organization(&browser).await?;
    assert_eq!(header, ours.to_string());
    assert!(!browser.current_url().await?.contains('#'));
    keep_screenshot(&browser, "switch").await?;

    // Staying is the default: Enter on the focused button keeps us.
    let focused = browser
        .eval("document.activeElement.dataset.testid")
        .await?;
    assert_eq!(focused, "switch-cancel");
    browser.press(Key::Enter).await?;
    browser.wait_until_hidden(&testid("switch-dialog")).await?;
    assert_eq!(session_token(&browser).await?, our_token);
    browser.click(&testid("nav-webhooks")).await?;
    browser.wait_for_testid("webhooks-empty").await?;
    create_in_console(
        &browser,
        "https://hooks.example.com/mine",
        "member.added",
        "",
    )
    .await?;
    browser.click(&testid("secret-done")).await?;
    assert_eq!(
        webhook_urls_of(&app, ours).await,
        ["https://hooks.example.com/mine"],
        "what we did next landed in our organization"
    );
    assert_eq!(
        webhook_urls_of(&app, theirs).await,
        ["https://hooks.example.com/theirs"]
    );

    // The same link again from `/console/`, where only the fragment
    // changes (no reload): asked again, and accepting switches, saying so
    // in the header.
    browser.goto(&console_url(&app)).await?;
    browser.wait_for_testid("webhook-row").await?;
    browser.eval("window.sameDocument = true").await?;
    browser.goto(&their_link).await?;
    browser.wait_for_testid("switch-dialog").await?;
    assert_eq!(browser.eval("window.sameDocument").await?, true);
    assert_eq!(session_token(&browser).await?, our_token);
    browser.click(&testid("switch-accept")).await?;
    browser
        .wait_until(&format!(
            "document.querySelector('[data-testid=session-org]').dataset.organization === '{theirs}'"
        ))
        .await?;
    let row = browser.wait_for_testid("webhook-row").await?.text().await?;
    assert!(row.contains("/theirs"), "{row}");
    assert_eq!(session_token(&browser).await?, token_of_link(&their_link));
    Ok(())
}

#[tokio::test]
async fn a_fresh_link_of_the_same_session_renews_it_and_a_dead_one_is_refused_in_words()
-> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |s| s.portal_key = Some(PORTAL_KEY.into())).await;
    let first = app.create_portal_link(&app.token("ADMIN"), None).await?.url;
    let browser = Browser::start().await?;
    browser.goto(&first).await?;
    browser.wait_for_testid("webhooks-page").await?;

    // The host application shows the console again with a fresh link for
    // the same person and organization: taken without a question.
    let renewed = app.create_portal_link(&app.token("ADMIN"), None).await?.url;
    browser.goto(&renewed).await?;
    browser
        .wait_until(&format!(
            "sessionStorage.getItem('webhookConsole.token') === {}",
            serde_json::to_string(&token_of_link(&renewed))?
        ))
        .await?;
    assert_eq!(texts(&browser, &testid("switch-dialog")).await?.len(), 0);

    // An expired link to another organization: not used, and said so.
    let now = jsonwebtoken::get_current_timestamp();
    let expired = sign_portal_token(&portal_claims(Uuid::new_v4(), now - 60), PORTAL_KEY);
    browser
        .goto(&format!("{}#token={expired}", console_url(&app)))
        .await?;
    browser
        .wait_for_text(&testid("error-message"), "was not used")
        .await?;
    assert_eq!(session_token(&browser).await?, token_of_link(&renewed));
    let header = session_organization(&browser).await?;
    assert_eq!(header, app.organization.to_string());

    // On a phone, the question about another organization's link fits the
    // screen, and Escape answers it by staying.
    browser.set_viewport(375, 800).await?;
    let theirs = Uuid::new_v4();
    let their_link = app
        .create_portal_link_for(theirs, &app.token_for(theirs, "ADMIN"), None)
        .await?
        .url;
    browser.goto(&their_link).await?;
    browser.wait_for_testid("switch-dialog").await?;
    let fits = "document.querySelector('[data-testid=switch-dialog]').getBoundingClientRect().right \
                <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(browser.eval(fits).await?, true, "the question overflows");
    keep_screenshot(&browser, "phone-switch").await?;
    browser.press(Key::Escape).await?;
    browser.wait_until_hidden(&testid("switch-dialog")).await?;
    browser
        .wait_for_text(&testid("status-message"), "You stayed in organization")
        .await?;
    assert_eq!(session_token(&browser).await?, token_of_link(&renewed));
    Ok(())
}

/// A host application on an origin of its own: its address, and where to
/// send the link its page is to frame (it serves once it has one).
async fn host_page() -> (String, tokio::sync::oneshot::Sender<String>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let Ok(link) = rx.await else { return };
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Host</title></head>\
             <body><h1>Host application</h1><iframe src=\"{link}\" title=\"Webhooks\" \
             width=\"1000\" height=\"700\"></iframe></body></html>"
        );
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(page) }),
        );
        axum::serve(listener, app).await.unwrap();
    });
    (origin, tx)
}

#[tokio::test]
async fn a_host_application_frames_a_portal_link_only_where_frame_ancestors_allow()
-> anyhow::Result<()> {
    let (host, show) = host_page().await;
    let allowed = host.clone();
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.portal_frame_ancestors = FrameAncestors::parse(&allowed).unwrap();
    })
    .await;
    app.subscribe("https://hooks.example.com/framed", &["member.added"])
        .await;
    show.send(app.create_portal_link(&app.token("ADMIN"), None).await?.url)
        .unwrap();

    let browser = Browser::start().await?;
    browser.goto(&format!("{host}/")).await?;
    browser.wait_for_text("h1", "Host application").await?;
    browser.enter_frame(0).await?;
    let row = browser.wait_for_testid("webhook-row").await?.text().await?;
    assert!(row.contains("/framed"), "{row}");
    browser.leave_frame().await?;
    keep_screenshot(&browser, "framed").await?;

    // An application the setting does not name gets Chromium's refusal in
    // its frame, not the console.
    let (elsewhere, show) = host_page().await;
    show.send(app.create_portal_link(&app.token("ADMIN"), None).await?.url)
        .unwrap();
    browser.goto(&format!("{elsewhere}/")).await?;
    // The host's load event waits for its frame, loaded or refused.
    browser
        .wait_until("document.readyState === 'complete'")
        .await?;
    browser.enter_frame(0).await?;
    let shown = browser
        .eval("[document.querySelectorAll('[data-testid=main]').length, location.href]")
        .await?;
    assert_eq!(
        shown,
        json!([0, "chrome-error://chromewebdata/"]),
        "the console showed in a frame it forbids"
    );
    Ok(())
}
