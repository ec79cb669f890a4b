//! The browser harness against pages served here: clicks, typing, keys,
//! waits, JavaScript, a phone-sized viewport and screenshots work, and the
//! browser enforces a page's Content-Security-Policy, which the console's
//! tests rely on.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::routing::get;
use serde_json::json;

use crate::support::browser::{Browser, Key, testid};
use crate::support::{Backend, spawn_app};

/// A form: a name typed in and a click greet; Escape closes a dialog.
const FORM: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Form</title></head>
<body>
  <h1>A small form</h1>
  <input id="name" data-testid="name" value="placeholder text">
  <button id="greet" data-testid="greet">Greet</button>
  <p data-testid="greeting">Nobody greeted yet</p>
  <div role="dialog" data-testid="dialog">A dialog, closed by Escape</div>
  <script>
    document.getElementById("greet").addEventListener("click", () => {
      // Later than the click, as an answer from a server would be.
      setTimeout(() => {
        document.querySelector("[data-testid=greeting]").textContent =
          "Hello, " + document.getElementById("name").value + "!";
      }, 100);
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        document.querySelector("[data-testid=dialog]").hidden = true;
      }
    });
  </script>
</body></html>"#;

/// Scripts from the page's own origin may run, inline ones may not.
const CSP: &str = "default-src 'none'; script-src 'self'";

const GUARDED: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Guarded</title></head>
<body>
  <p data-testid="status">Waiting for scripts</p>
  <script>window.inlineRan = true;</script>
  <script src="/allowed.js"></script>
</body></html>"#;

const ALLOWED_JS: &str = r#"window.allowedRan = true;
document.querySelector("[data-testid=status]").textContent = "The allowed script ran";"#;

/// Serves the pages above on a free loopback port.
async fn serve_pages() -> SocketAddr {
    let pages = Router::new()
        .route(
            "/form",
            get(|| async { ([(CONTENT_TYPE, "text/html")], FORM) }),
        )
        .route(
            "/guarded",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/html"), (CONTENT_SECURITY_POLICY, CSP)],
                    GUARDED,
                )
            }),
        )
        .route(
            "/unguarded",
            get(|| async { ([(CONTENT_TYPE, "text/html")], GUARDED) }),
        )
        .route(
            "/allowed.js",
            get(|| async { ([(CONTENT_TYPE, "text/javascript")], ALLOWED_JS) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, pages).await });
    address
}

/// A browser showing the form, and the form's address.
async fn open_form() -> anyhow::Result<(Browser, String)> {
    let form = format!("http://{}/form", serve_pages().await);
    let browser = Browser::start().await?;
    browser.goto(&form).await?;
    Ok((browser, form))
}

#[tokio::test]
async fn typed_text_and_a_click_change_the_page() -> anyhow::Result<()> {
    let (browser, _) = open_form().await?;

    browser.type_into(&testid("name"), "Ada").await?;
    browser.click(&testid("greet")).await?;
    let greeting = browser.wait_for_text(&testid("greeting"), "Hello").await?;

    assert_eq!(greeting, "Hello, Ada!");
    assert_eq!(browser.text("h1").await?, "A small form");
    assert_eq!(browser.eval("document.title").await?, "Form");
    Ok(())
}

#[tokio::test]
async fn tab_moves_the_focus_and_escape_reaches_the_page() -> anyhow::Result<()> {
    let (browser, _) = open_form().await?;
    browser.click("#name").await?;

    browser.press(Key::Tab).await?;
    assert_eq!(browser.eval("document.activeElement.id").await?, "greet");
    browser.wait_for_testid("dialog").await?;
    browser.press(Key::Escape).await?;
    browser.wait_until_hidden(&testid("dialog")).await?;
    Ok(())
}

#[tokio::test]
async fn a_phone_sized_viewport_is_screenshotted_as_a_png() -> anyhow::Result<()> {
    let (browser, _) = open_form().await?;

    browser.set_viewport(375, 800).await?;
    let size = browser
        .eval("[window.innerWidth, window.innerHeight]")
        .await?;
    assert_eq!(size, json!([375, 800]));
    let matches = "matchMedia('(max-width: 400px)').matches";
    assert_eq!(browser.eval(matches).await?, true);

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("phone.png");
    browser.screenshot(&file).await?;
    let png = std::fs::read(&file)?;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // 375 x 800 pixels, big-endian in the IHDR chunk.
    assert_eq!(&png[16..24], &[0, 0, 1, 119, 0, 0, 3, 32]);
    Ok(())
}

#[tokio::test]
async fn the_browser_refuses_inline_script_that_the_pages_csp_forbids() -> anyhow::Result<()> {
    let pages = serve_pages().await;
    let browser = Browser::start().await?;
    browser.goto(&format!("http://{pages}/guarded")).await?;

    browser
        .wait_for_text(&testid("status"), "The allowed script ran")
        .await?;
    assert_eq!(browser.eval("window.allowedRan === true").await?, true);
    assert_eq!(browser.eval("window.inlineRan === undefined").await?, true);

    // The same page without the policy: its inline script runs.
    browser.goto(&format!("http://{pages}/unguarded")).await?;
    assert_eq!(browser.eval("window.inlineRan === true").await?, true);
    Ok(())
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_it_awaited_where_and_what_the_page_showed()
-> anyhow::Result<()> {
    let (mut browser, form) = open_form().await?;
    browser.set_wait_limit(Duration::from_millis(300));

    let error = browser
        .wait_for_text(&testid("greeting"), "Goodbye")
        .await
        .expect_err("nobody says goodbye");

    let message = format!("{error:#}");
    assert!(
        message.contains("`Goodbye` in a visible element matching `[data-testid=\"greeting\"]`"),
        "{message}"
    );
    assert!(message.contains(&format!("at {form}")), "{message}");
    assert!(message.contains("Nobody greeted yet"), "{message}");
    let picture = message.split("screenshot: ").nth(1).expect("a screenshot");
    let png = std::fs::read(picture)?;
    std::fs::remove_file(picture)?;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    Ok(())
}

#[tokio::test]
async fn the_services_openapi_document_opens_in_the_browser() -> anyhow::Result<()> {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::start().await?;

    browser
        .goto(&format!("{}/v1/openapi.json", app.http_url()))
        .await?;
    let document = browser.eval("JSON.parse(document.body.innerText)").await?;

    assert_eq!(document["openapi"], "3.1.0");
    Ok(())
}
