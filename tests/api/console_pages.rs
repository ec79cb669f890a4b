//! The console in a real headless Chromium, against the real service and a
//! real HTTPS receiver: what an organization's admin does with it, a portal
//! link, hostile text, a phone-sized screen and a keyboard.
//!
//! Each test keeps a screenshot of the page it is about. They go to a
//! temporary folder, or to `WEBHOOK_CONSOLE_SCREENSHOTS` when set:
//! `WEBHOOK_CONSOLE_SCREENSHOTS=docs/console cargo test --test api console_pages::`
//! renews the README's pictures.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use webhook_service::grpc::proto::{DeliveryStatus, EventTypeInfo, ListEventTypesRequest};
use webhook_service::http::FrameAncestors;

use crate::support::browser::{Browser, Key, testid};
use crate::support::portal::token_of_link;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{
    Backend, TestApp, authorized, deliver_to, spawn_app_with, standard_signature,
};

const WAIT: Duration = Duration::from_secs(10);

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

/// Creates a webhook for `url` through the console's dialog and returns the
/// secret it showed.
async fn create_in_console(
    browser: &Browser,
    url: &str,
    event: &str,
    description: &str,
) -> anyhow::Result<String> {
    browser.click(&testid("webhook-create")).await?;
    browser.wait_for_testid("webhook-dialog").await?;
    browser.type_into(&testid("webhook-url-input"), url).await?;
    browser
        .click(&format!("{}[value=\"{event}\"]", testid("webhook-event")))
        .await?;
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
    keep_screenshot(&browser, "webhooks").await?;

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
    keep_screenshot(&browser, "deliveries").await?;

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
    keep_screenshot(&browser, "delivery").await?;

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

    browser.click(&testid("webhook-pause")).await?;
    browser
        .wait_for_text(&testid("webhook-state"), "Paused")
        .await?;
    assert!(!app.get_webhook(&webhook.id).await?.enabled);

    browser.click(&testid("webhook-resume")).await?;
    browser
        .wait_for_text(&testid("webhook-state"), "Active")
        .await?;
    assert!(app.get_webhook(&webhook.id).await?.enabled);
    Ok(())
}

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
async fn the_event_types_page_lists_the_catalogue_with_a_line_each() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;

    browser.click(&testid("nav-event-types")).await?;
    browser.wait_for_testid("event-type-row").await?;
    let names = texts(&browser, &testid("event-type-name")).await?;
    let descriptions = texts(&browser, &testid("event-type-description")).await?;
    let catalogue = event_types(&app).await;
    let expected: Vec<&str> = catalogue.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, expected);
    for (shown, info) in descriptions.iter().zip(&catalogue) {
        assert_eq!(shown, &info.description);
    }
    keep_screenshot(&browser, "event-types").await?;
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
    keep_screenshot(&browser, "phone-webhooks").await?;

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

/// The catalogue as ListEventTypes answers it.
async fn event_types(app: &TestApp) -> Vec<EventTypeInfo> {
    app.webhooks()
        .await
        .list_event_types(authorized(ListEventTypesRequest {}, &app.token("OWNER")))
        .await
        .expect("list event types")
        .into_inner()
        .event_types
}

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
    browser
        .click(&format!("{managed}{}", testid("webhook-test")))
        .await?;
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
    browser
        .click(&format!("{managed}{}", testid("webhook-rotate")))
        .await?;
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
    browser
        .click(&format!("{managed}{}", testid("webhook-delete")))
        .await?;
    browser.click(&testid("confirm-cancel")).await?;
    browser.wait_until_hidden(&testid("confirm-dialog")).await?;
    assert!(app.get_webhook(&webhook.id).await.is_ok());
    browser
        .click(&format!("{managed}{}", testid("webhook-delete")))
        .await?;
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
