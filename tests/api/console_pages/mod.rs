//! The console in a real headless Chromium, against the real service and a
//! real HTTPS receiver: what an organization's admin does with it, a portal
//! link, hostile text, a phone-sized screen and a keyboard.
//!
//! Each test keeps a screenshot of the page it is about. They go to a
//! temporary folder, or to `WEBHOOK_CONSOLE_SCREENSHOTS` when set:
//! `WEBHOOK_CONSOLE_SCREENSHOTS=docs/console cargo test --test api console_pages::`
//! renews the pictures of docs/console.md.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use webhook_service::grpc::proto::{DeliveryStatus, EventTypeInfo, ListEventTypesRequest};
use webhook_service::http::FrameAncestors;

use crate::support::browser::{Browser, Key, testid};
use crate::support::portal::{PORTAL_KEY, portal_claims, sign_portal_token, token_of_link};
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, authorized, deliver_to, spawn_app_with, standard_signature,
};

const WAIT: Duration = Duration::from_secs(10);

mod catalogue;
mod crowded;
mod deliveries;
mod delivering;
mod endpoint_auth;
mod filtering;
mod portal;
mod recovering;
mod safety;
mod subscribing;
mod webhooks;

/// Where a test's screenshot `name` goes.
fn screenshot_path(name: &str) -> PathBuf {
    match std::env::var_os("WEBHOOK_CONSOLE_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir).join(format!("{name}.png")),
        None => std::env::temp_dir().join(format!("console-{}-{name}.png", Uuid::new_v4())),
    }
}

/// Saves a screenshot of what the browser shows and checks it is a PNG.
async fn keep_screenshot(browser: &Browser, name: &str) -> anyhow::Result<()> {
    let path = screenshot_path(name);
    browser.screenshot(&path).await?;
    let bytes = std::fs::read(&path)?;
    anyhow::ensure!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        path.display()
    );
    if std::env::var_os("WEBHOOK_CONSOLE_SCREENSHOTS").is_none() {
        std::fs::remove_file(&path)?;
    }
    Ok(())
}

/// The console's address on `app`'s HTTP listener.
fn console_url(app: &TestApp) -> String {
    format!("{}/console/", app.http_url())
}

/// Opens the console and signs in with `token` for `organization`.
async fn sign_in(
    browser: &Browser,
    app: &TestApp,
    token: &str,
    organization: Uuid,
) -> anyhow::Result<()> {
    browser.goto(&console_url(app)).await?;
    browser.type_into(&testid("signin-token"), token).await?;
    browser
        .type_into(&testid("signin-org"), &organization.to_string())
        .await?;
    browser.click(&testid("signin-submit")).await?;
    browser.wait_for_testid("webhooks-page").await?;
    Ok(())
}

/// The text of every element matching `selector`.
async fn texts(browser: &Browser, selector: &str) -> anyhow::Result<Vec<String>> {
    let expression = format!(
        "Array.from(document.querySelectorAll({})).map(e => e.textContent)",
        serde_json::to_string(selector)?
    );
    Ok(serde_json::from_value(browser.eval(&expression).await?)?)
}

/// Opens the create dialog with `url` typed in and `event` checked.
async fn open_create_dialog(browser: &Browser, url: &str, event: &str) -> anyhow::Result<()> {
    browser.click(&testid("webhook-create")).await?;
    browser.wait_for_testid("webhook-dialog").await?;
    browser.type_into(&testid("webhook-url-input"), url).await?;
    browser
        .click(&format!("{}[value=\"{event}\"]", testid("webhook-event")))
        .await?;
    Ok(())
}

/// Creates a webhook for `url` through the console's dialog and returns the
/// secret it showed.
async fn create_in_console(
    browser: &Browser,
    url: &str,
    event: &str,
    description: &str,
) -> anyhow::Result<String> {
    open_create_dialog(browser, url, event).await?;
    browser
        .type_into(&testid("webhook-description-input"), description)
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    Ok(browser
        .wait_for_testid("secret-value")
        .await?
        .text()
        .await?)
}

/// Opens the actions menu of the webhook row within `scope` (a selector
/// and a space, or "" for the first row) and chooses `action` (a test id
/// such as `webhook-pause`).
async fn row_action(browser: &Browser, scope: &str, action: &str) -> anyhow::Result<()> {
    browser
        .click(&format!("{scope}{}", testid("webhook-menu")))
        .await?;
    browser.click(&format!("{scope}{}", testid(action))).await?;
    Ok(())
}

/// Records in `window.masks` the update mask of each PATCH the page sends.
async fn watch_masks(browser: &Browser) -> anyhow::Result<()> {
    browser
        .eval(
            "(() => { window.masks = []; const f = window.fetch; window.fetch = (url, init) => { \
             if (init && init.method === 'PATCH') window.masks.push(new URL(url, location.href)\
             .searchParams.get('updateMask')); return f(url, init); }; })()",
        )
        .await?;
    Ok(())
}

/// The whole organization id the header shows (shortened on screen).
async fn session_organization(browser: &Browser) -> anyhow::Result<String> {
    let id = browser
        .eval("document.querySelector('[data-testid=session-org]').dataset.organization")
        .await?;
    Ok(id.as_str().unwrap_or_default().to_owned())
}
