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
    let org = browser.text(&testid("session-org")).await?;
    assert!(org.contains(&app.organization.to_string()), "{org}");
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
