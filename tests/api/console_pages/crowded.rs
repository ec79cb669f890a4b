//! The console with a real-looking history: long URLs, a filter, failures
//! whose errors are long Rust error chains, a webhook the service disabled, at
//! a desktop and at a phone's width. Its screenshots are the README's
//! pictures of the webhooks, deliveries and delivery pages.

use super::*;
use webhook_service::grpc::proto::Webhook;

/// A desktop's and a phone's viewport.
const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (375, 812);

/// A path as long as real endpoints' are.
fn long_path(name: &str) -> String {
    format!(
        "/{name}/v2/integrations/webhooks/receiver/tenant-8c1f2e7a-4b1d-4a5e-9a55-2f0d1c9b7e31/events"
    )
}

/// A loopback port that nothing listens on: connecting is refused.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The webhook of [`crowded_app`] whose failures the tests look at (the
/// others: one always answers 200, one 503).
struct Crowd {
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
    receiver.always_reply(
        &failing_path,
        Reply::status(503).body("upstream unavailable"),
    );
    let events = ["member.added", "member.removed", "invite.created"];
    // A filter every event below matches: the list shows it, cut.
    let mut healthy = app.create_request(&receiver.url(&healthy_path), &events);
    healthy.filter =
        r#"type == "invite.created" || (data.role == "ADMIN" && size(labels) == 0)"#.into();
    app.create_webhook(healthy).await?;
    app.subscribe(&receiver.url(&failing_path), &events).await;
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
        if !app
            .get_webhook(&disabled.id)
            .await?
            .disabled_reason
            .is_empty()
        {
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
    Ok((app, Crowd { disabled }))
}

/// What makes the page on screen hard to read, in words: buttons whose
/// label wraps, sideways scrolling, long values (URLs, filters) not cut
/// to one line with the whole text on hover, times not in the one format
/// with the offset, a row with more than one action in view, errors that
/// are not one short line, the organization's whole id in the header.
const PROBLEMS: &str = r#"(() => {
  const problems = [];
  // In view: not in a closed <details>, not display: none.
  const shown = (e) => e.checkVisibility();
  // The lines the text inside `e` takes (its text nodes' line boxes).
  const lines = (e) => {
    const tops = new Set();
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    }
    return tops.size;
  };
  for (const b of document.querySelectorAll('main button, main .button, main summary')) {
    if (shown(b) && lines(b) > 1) problems.push(`the button "${b.textContent}" wraps onto ${lines(b)} lines`);
  }
  const page = document.documentElement.scrollWidth;
  if (page > innerWidth) problems.push(`the page scrolls sideways (${page} > ${innerWidth})`);
  for (const w of document.querySelectorAll('main .table-wrap')) {
    if (w.scrollWidth > w.clientWidth + 1) problems.push(`a table scrolls sideways (${w.scrollWidth} > ${w.clientWidth})`);
  }
  for (const cell of document.querySelectorAll('td[data-label="URL"], td[data-label="Webhook"]')) {
    const text = cell.textContent.trim();
    if (lines(cell) > 1) problems.push(`the URL ${text} takes ${lines(cell)} lines`);
    if (![...cell.querySelectorAll('[title]')].some((e) => e.title === text)) problems.push(`the URL ${text} has no title with its whole text`);
  }
  for (const line of document.querySelectorAll('[data-testid=webhook-filter] .truncate')) {
    if (lines(line) > 1) problems.push(`the filter ${line.title} takes ${lines(line)} lines`);
    if (!line.title) problems.push(`the filter ${line.textContent} has no title with its whole text`);
  }
  for (const cell of document.querySelectorAll('td[data-label="Last error"]')) {
    const text = cell.innerText.trim();
    if (text && (lines(cell) > 1 || text.length > 80)) problems.push(`the last error "${text}" is not one short line`);
  }
  const format = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2}$/;
  for (const t of document.querySelectorAll('main time')) {
    const text = t.textContent;
    const parsed = Date.parse(text.replace(' ', 'T').replace(' ', ''));
    const exact = Math.floor(Date.parse(t.getAttribute('datetime')) / 1000) * 1000;
    if (!format.test(text) || parsed !== exact) problems.push(`the time "${text}" (${t.getAttribute('datetime')}) is not shown as YYYY-MM-DD HH:MM:SS +HH:MM`);
  }
  const expiry = document.querySelector('[data-testid=session-expiry]').textContent.replace('Session ends at ', '');
  if (!format.test(expiry)) problems.push(`the session's end "${expiry}" is not shown as YYYY-MM-DD HH:MM:SS +HH:MM`);
  for (const cell of document.querySelectorAll('[data-testid=webhook-row] td[data-label="Actions"]')) {
    const inView = [...cell.querySelectorAll('button, a, summary')].filter(shown);
    if (inView.length > 2) problems.push(`a webhook row shows ${inView.length} actions: ${inView.map((e) => e.textContent).join(', ')}`);
  }
  const org = document.querySelector('[data-testid=session-org]');
  const id = org.dataset.organization || '';
  if (!id || org.innerText.includes(id) || org.title !== id) problems.push(`the header shows the organization as "${org.innerText}", not a short id with the whole one on hover`);
  return problems;
})()"#;

/// The problems [`PROBLEMS`] finds on the page on screen, each prefixed
/// with `page`.
async fn problems(browser: &Browser, page: &str) -> anyhow::Result<Vec<String>> {
    let found: Vec<String> = serde_json::from_value(browser.eval(PROBLEMS).await?)?;
    Ok(found.into_iter().map(|p| format!("{page}: {p}")).collect())
}

/// Saves the webhooks list, the deliveries list and one failed delivery at
/// `size`, with `prefix` before each picture's name; returns what makes
/// them hard to read.
async fn screenshots(
    browser: &Browser,
    app: &TestApp,
    crowd: &Crowd,
    size: (u32, u32),
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let at = format!("{}x{}", size.0, size.1);
    browser.set_viewport(size.0, size.1).await?;
    browser
        .goto(&format!("{}?view=webhooks", console_url(app)))
        .await?;
    browser.wait_for_testid("webhook-row").await?;
    keep_screenshot(browser, &format!("{prefix}webhooks")).await?;
    found.extend(problems(browser, &format!("{at} webhooks")).await?);
    browser
        .goto(&format!("{}?view=deliveries", console_url(app)))
        .await?;
    browser.wait_for_testid("delivery-row").await?;
    keep_screenshot(browser, &format!("{prefix}deliveries")).await?;
    found.extend(problems(browser, &format!("{at} deliveries")).await?);
    let summaries = texts(browser, "td[data-label=\"Last error\"]").await?;
    for expected in ["connection refused", "HTTP 503"] {
        if !summaries.iter().any(|s| s == expected) {
            found.push(format!(
                "{at} deliveries: no last error reads \"{expected}\": {summaries:?}"
            ));
        }
    }
    let refused = app.deliveries_of(&crowd.disabled.id).await;
    let failed = refused
        .iter()
        .find(|d| d.status() == DeliveryStatus::Failed)
        .expect("a failed delivery");
    browser
        .goto(&format!(
            "{}?view=delivery&id={}",
            console_url(app),
            failed.id
        ))
        .await?;
    browser.wait_for_testid("attempts-table").await?;
    keep_screenshot(browser, &format!("{prefix}delivery")).await?;
    found.extend(problems(browser, &format!("{at} delivery")).await?);
    // The page of one delivery has room for the whole error, and its summary.
    let facts = browser.text(&testid("delivery-summary")).await?;
    if !facts.contains(&failed.last_error) || !facts.contains("connection refused") {
        found.push(format!(
            "{at} delivery: the whole error and its summary are not both shown: {facts}"
        ));
    }
    Ok(found)
}

#[tokio::test]
async fn a_crowded_history_is_readable_on_a_desktop_and_on_a_phone() -> anyhow::Result<()> {
    let receiver = Receiver::start().await;
    let (app, crowd) = crowded_app(&receiver).await?;
    let browser = Browser::start().await?;
    sign_in(&browser, &app, &app.token("OWNER"), app.organization).await?;
    let mut found = screenshots(&browser, &app, &crowd, DESKTOP, "").await?;
    found.extend(screenshots(&browser, &app, &crowd, PHONE, "phone-").await?);
    assert!(found.is_empty(), "hard to read:\n{}", found.join("\n"));
    Ok(())
}
