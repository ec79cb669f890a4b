//! The console with a real-looking history: long URLs, failures whose
//! errors are long Rust error chains, a webhook the service disabled, at
//! a desktop and at a phone's width. Its screenshots are the README's
//! pictures of the webhooks, deliveries and delivery pages.

use super::*;
use webhook_service::grpc::proto::Webhook;

/// A desktop's and a phone's viewport.
const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (375, 812);

/// A path as long as real endpoints' are.
fn long_path(name: &str) -> String {
    format!("/{name}/v2/integrations/webhooks/receiver/tenant-8c1f2e7a-4b1d-4a5e-9a55-2f0d1c9b7e31/events")
}

/// A loopback port that nothing listens on: connecting is refused.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The webhooks of [`crowded_app`].
struct Crowd {
    /// Always answers 200.
    healthy: Webhook,
    /// Always answers 503.
    failing: Webhook,
    /// Its port is closed, so it fails with a connection error; the
    /// service has disabled it.
    disabled: Webhook,
}

/// A service with three webhooks and a history: successes, HTTP 503s, and
/// refused connections until the service disabled the webhook.
async fn crowded_app(receiver: &Receiver) -> anyhow::Result<(TestApp, Crowd)> {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        deliver_to(receiver)(s);
        s.retry_schedule = "".into();
        s.disable_after = Duration::from_millis(600);
    })
    .await;
    let healthy_path = long_path("healthy");
    let failing_path = long_path("failing");
    receiver.always(&healthy_path, 200);
    receiver.always_reply(&failing_path, Reply::status(503).body("upstream unavailable"));
    let events = ["member.added", "member.removed", "invite.created"];
    let healthy = app.subscribe(&receiver.url(&healthy_path), &events).await;
    let failing = app.subscribe(&receiver.url(&failing_path), &events).await;
    let refused = format!(
        "https://127.0.0.1:{}{}",
        closed_port(),
        long_path("refused")
    );
    let disabled = app.subscribe(&refused, &["member.added"]).await;
    let disabled = disabled.webhook.unwrap();

    // Published until the refused webhook has failed for longer than
    // WEBHOOK_DISABLE_AFTER and the service disables it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        app.publish("member.added", json!({"user": "u1", "role": "ADMIN"}), "")
            .await?;
        app.wait_until_settled(WAIT).await;
        if !app.get_webhook(&disabled.id).await?.disabled_reason.is_empty() {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the service never disabled the refused webhook"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.publish("invite.created", json!({"email": "a@example.com"}), "")
        .await?;
    app.wait_until_settled(WAIT).await;
    Ok((
        app,
        Crowd {
            healthy: healthy.webhook.unwrap(),
            failing: failing.webhook.unwrap(),
            disabled,
        },
    ))
}

/// Saves the webhooks list, the deliveries list and one failed delivery at
/// `size`, with `prefix` before each picture's name.
async fn screenshots(
    browser: &Browser,
    app: &TestApp,
    crowd: &Crowd,
    size: (u32, u32),
    prefix: &str,
) -> anyhow::Result<()> {
    browser.set_viewport(size.0, size.1).await?;
    browser
        .goto(&format!("{}?view=webhooks", console_url(app)))
        .await?;
    browser.wait_for_testid("webhook-row").await?;
    keep_screenshot(browser, &format!("{prefix}webhooks")).await?;
    browser
        .goto(&format!("{}?view=deliveries", console_url(app)))
        .await?;
    browser.wait_for_testid("delivery-row").await?;
    keep_screenshot(browser, &format!("{prefix}deliveries")).await?;
    let refused = app.deliveries_of(&crowd.disabled.id).await;
    let failed = refused
        .iter()
        .find(|d| d.status() == DeliveryStatus::Failed)
        .expect("a failed delivery");
    browser
        .goto(&format!("{}?view=delivery&id={}", console_url(app), failed.id))
        .await?;
    browser.wait_for_testid("attempts-table").await?;
    keep_screenshot(browser, &format!("{prefix}delivery")).await?;
    Ok(())
}

#[tokio::test]
async fn a_crowded_history_is_readable_on_a_desktop_and_on_a_phone() -> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let (app, crowd) = crowded_app(&receiver).await?;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    screenshots(&browser, &app, &crowd, DESKTOP, "").await?;
    screenshots(&browser, &app, &crowd, PHONE, "phone-").await?;
    let _ = (&crowd.healthy, &crowd.failing);
    Ok(())
}
