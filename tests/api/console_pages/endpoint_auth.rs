//! What an endpoint demands, set in the console's dialogs: headers (secret
//! ones write-only, kept by an empty field), a client certificate (PEM in,
//! its names and expiry shown) and OAuth2 client credentials (the secret
//! write-only); removing them; refusals shown in the folded part.

use webhook_service::grpc::proto::WebhookHeader;

use super::*;
use crate::support::pki::Ca;

const API_KEY: &str = "k3y-that-must-never-show";

/// The value of the last request's `name` header at `path`.
fn last_header(receiver: &Receiver, path: &str, name: &str) -> String {
    receiver
        .received(path)
        .last()
        .map(|r| r.header(name).to_owned())
        .unwrap_or_default()
}

/// Types `name: value` into the last header row, adding one first.
async fn add_header(browser: &Browser, name: &str, value: &str) -> anyhow::Result<()> {
    browser.click(&testid("header-add")).await?;
    let last = format!("{}:last-child ", testid("header-row"));
    browser
        .type_into(&format!("{last}{}", testid("header-name-input")), name)
        .await?;
    browser
        .type_into(&format!("{last}{}", testid("header-value-input")), value)
        .await?;
    Ok(())
}

/// Sets a textarea's value as a paste would (a PEM is long to type key by key).
async fn paste(browser: &Browser, id: &str, text: &str) -> anyhow::Result<()> {
    browser.wait_for_testid(id).await?;
    browser
        .eval(&format!(
            "(() => {{ const t = document.querySelector('[data-testid={id}]'); t.value = {}; \
             t.dispatchEvent(new Event('input')); }})()",
            serde_json::to_string(text)?
        ))
        .await?;
    Ok(())
}

#[tokio::test]
async fn headers_and_a_client_certificate_set_in_the_console_reach_a_receiver_that_demands_them()
-> anyhow::Result<()> {
    let client_ca = Ca::new("console test client CA");
    let receiver = Receiver::requiring_client_certificates(&client_ca).await;
    let app = spawn_app_with(Backend::Sqlite, deliver_to(&receiver)).await;
    let leaf = client_ca.client("console.webhook-service.test");
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    open_create_dialog(&browser, &receiver.url("/gated"), "member.added").await?;
    browser.click(&testid("endpoint-auth-toggle")).await?;
    add_header(&browser, "X-Api-Key", API_KEY).await?;
    add_header(&browser, "x-tenant", "acme").await?;
    browser
        .click(&format!(
            "{}:last-child {}",
            testid("header-row"),
            testid("header-plain-input")
        ))
        .await?;
    paste(&browser, "certificate-chain-input", &leaf.certificate_pem()).await?;
    paste(&browser, "certificate-key-input", &leaf.key_pem()).await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_for_testid("secret-value").await?;
    browser.click(&testid("secret-done")).await?;

    let webhook = app.list_webhooks().await.remove(0);
    assert_eq!(
        webhook.headers,
        [
            WebhookHeader {
                name: "x-api-key".into(),
                value: String::new(),
                plain: false
            },
            WebhookHeader {
                name: "x-tenant".into(),
                value: "acme".into(),
                plain: true
            },
        ]
    );
    let certificate = webhook.client_certificate.clone().unwrap();
    assert!(
        certificate.subject.contains("console.webhook-service.test"),
        "{certificate:?}"
    );
    let summary = browser
        .wait_for_text(&testid("webhook-auth"), "Presents")
        .await?;
    assert!(
        summary.starts_with("Sends x-api-key, x-tenant · Presents CN=console.webhook-service.test"),
        "{summary}"
    );

    // The receiver checks the certificate in the handshake; the headers
    // arrive as written.
    app.publish("member.added", json!({}), "").await?;
    receiver.wait_for("/gated", 1, WAIT).await;
    assert_eq!(last_header(&receiver, "/gated", "x-api-key"), API_KEY);
    assert_eq!(last_header(&receiver, "/gated", "x-tenant"), "acme");

    // The edit dialog shows the secret header as kept, never its value, and
    // the certificate's names; changing the shown header keeps the secret.
    watch_masks(&browser).await?;
    row_action(&browser, "", "webhook-edit").await?;
    browser.wait_for_testid("certificate-info").await?;
    let rows = browser
        .eval(
            "Array.from(document.querySelectorAll('[data-testid=header-row]')).map(r => [\
             r.querySelector('[data-testid=header-name-input]').value, \
             r.querySelector('[data-testid=header-value-input]').value, \
             r.querySelector('[data-testid=header-value-input]').placeholder])",
        )
        .await?;
    assert_eq!(
        rows,
        json!([
            ["x-api-key", "", "Kept: write to replace"],
            ["x-tenant", "acme", "Value"]
        ])
    );
    browser
        .eval("document.querySelector('[data-testid=endpoint-auth]').scrollIntoView()")
        .await?;
    keep_screenshot(&browser, "endpoint-auth").await?;
    let info = browser.text(&testid("certificate-info")).await?;
    assert!(info.contains(&certificate.sha256_fingerprint), "{info}");
    browser
        .type_into(
            &format!(
                "{}:last-child {}",
                testid("header-row"),
                testid("header-value-input")
            ),
            "globex",
        )
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;
    assert_eq!(
        browser.eval("window.masks").await?,
        json!(["events,filter,description,headers"])
    );
    let page = browser.eval("document.documentElement.outerHTML").await?;
    assert!(!page.as_str().unwrap().contains(API_KEY));

    app.publish("member.added", json!({}), "").await?;
    receiver.wait_for("/gated", 2, WAIT).await;
    assert_eq!(last_header(&receiver, "/gated", "x-api-key"), API_KEY);
    assert_eq!(last_header(&receiver, "/gated", "x-tenant"), "globex");

    // Saving something else sends none of them.
    row_action(&browser, "", "webhook-edit").await?;
    browser
        .type_into(&testid("webhook-description-input"), "Gated")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;
    assert_eq!(
        browser.eval("window.masks[1]").await?,
        json!("events,filter,description")
    );
    Ok(())
}

#[tokio::test]
async fn oauth2_credentials_are_set_without_showing_the_secret_again_and_removed()
-> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;

    open_create_dialog(&browser, "https://hooks.example.com/oauth", "member.added").await?;
    browser.click(&testid("endpoint-auth-toggle")).await?;
    browser
        .type_into(
            &testid("oauth2-token-url-input"),
            "https://auth.example.com/oauth/token",
        )
        .await?;
    browser
        .type_into(&testid("oauth2-client-id-input"), "webhooks")
        .await?;
    browser
        .type_into(&testid("oauth2-client-secret-input"), API_KEY)
        .await?;
    browser
        .type_into(&testid("oauth2-scopes-input"), "hooks.write  hooks.read")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_for_testid("secret-value").await?;
    browser.click(&testid("secret-done")).await?;
    let webhook = app.list_webhooks().await.remove(0);
    let oauth2 = webhook.oauth2.clone().unwrap();
    assert_eq!(oauth2.token_url, "https://auth.example.com/oauth/token");
    assert_eq!(oauth2.client_id, "webhooks");
    assert_eq!(oauth2.scopes, ["hooks.write", "hooks.read"]);
    browser
        .wait_for_text(
            &testid("webhook-auth"),
            "OAuth2 token from auth.example.com",
        )
        .await?;

    // Edited: the secret field is empty and says it keeps the secret; a new
    // scope alone goes out with the kept secret.
    row_action(&browser, "", "webhook-edit").await?;
    browser
        .wait_for_testid("oauth2-client-secret-input")
        .await?;
    let secret = browser
        .eval(
            "(() => { const s = document.querySelector('[data-testid=oauth2-client-secret-input]'); \
             return [s.value, s.placeholder, s.type]; })()",
        )
        .await?;
    assert_eq!(secret, json!(["", "Kept: write to replace", "password"]));
    browser
        .type_into(&testid("oauth2-scopes-input"), "hooks.write")
        .await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;
    let saved = app.get_webhook(&webhook.id).await?;
    assert_eq!(saved.oauth2.unwrap().scopes, ["hooks.write"]);

    // Removed with its checkbox.
    row_action(&browser, "", "webhook-edit").await?;
    browser.click(&testid("oauth2-remove-input")).await?;
    browser.click(&testid("webhook-submit")).await?;
    browser.wait_until_hidden(&testid("webhook-dialog")).await?;
    assert!(app.get_webhook(&webhook.id).await?.oauth2.is_none());
    browser.wait_until_hidden(&testid("webhook-auth")).await?;
    Ok(())
}

#[tokio::test]
async fn refusals_of_what_the_endpoint_demands_show_next_to_their_fields() -> anyhow::Result<()> {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("ADMIN"), app.organization).await?;
    browser.wait_for_testid("webhooks-empty").await?;
    let leaf = Ca::new("refusals").client("refused.webhook-service.test");

    // A certificate without its key: refused before any call.
    open_create_dialog(
        &browser,
        "https://hooks.example.com/refused",
        "member.added",
    )
    .await?;
    browser.click(&testid("endpoint-auth-toggle")).await?;
    paste(&browser, "certificate-chain-input", &leaf.certificate_pem()).await?;
    browser.click(&testid("webhook-submit")).await?;
    browser
        .wait_for_text(
            &testid("field-error-clientCertificate.privateKeyPem"),
            "private key",
        )
        .await?;
    paste(&browser, "certificate-chain-input", "").await?;

    // The service's refusals land next to their fields, in the folded part
    // (unfolded to show them): a header it keeps for itself, an http URL.
    add_header(&browser, "Host", "evil.example.com").await?;
    browser
        .type_into(
            &testid("oauth2-token-url-input"),
            "http://auth.example.com/token",
        )
        .await?;
    browser
        .type_into(&testid("oauth2-client-id-input"), "id")
        .await?;
    browser
        .type_into(&testid("oauth2-client-secret-input"), "secret")
        .await?;
    browser.click(&testid("endpoint-auth-toggle")).await?;
    assert_eq!(
        browser
            .eval("document.querySelector('[data-testid=endpoint-auth]').open")
            .await?,
        json!(false)
    );
    browser.click(&testid("webhook-submit")).await?;
    let header = browser
        .wait_for_text(&testid("field-error-headers"), "host")
        .await?;
    assert!(header.starts_with("host: "), "{header}");
    let url = browser.text(&testid("field-error-oauth2.tokenUrl")).await?;
    assert!(url.contains("https"), "{url}");
    assert_eq!(
        browser
            .eval("document.querySelector('[data-testid=endpoint-auth]').open")
            .await?,
        json!(true)
    );
    assert!(app.list_webhooks().await.is_empty());
    Ok(())
}
