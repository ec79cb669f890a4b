//! Headless Chromium driven through WebDriver, for tests of what a person
//! sees in the browser. Each `Browser` has its own chromedriver on a free
//! loopback port and its own Chromium profile; both die with it.
//!
//! Waits poll a condition until a deadline (10 s unless told otherwise) and,
//! when it passes, fail naming what was awaited, the page's URL and the
//! start of its visible text, with a screenshot beside the test binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::{Semaphore, SemaphorePermit};

pub use fantoccini::key::Key;

mod driver;
use driver::Driver;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait lasts unless `set_wait_limit` says otherwise: generous,
/// as the suite shares two cores with everything else.
pub const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Browsers open at once across the test binary: each is a dozen processes,
/// and the suite runs on two cores beside everything else it starts.
static BROWSERS: Semaphore = Semaphore::const_new(2);

/// The selector of the elements whose `data-testid` is `id`.
pub fn testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// A headless Chromium with its own chromedriver and profile.
pub struct Browser {
    // Dropped in this order: the session, then the processes, then the
    // profile they wrote to, then the place in the queue.
    client: Client,
    _driver: Driver,
    _profile: TempDir,
    _permit: SemaphorePermit<'static>,
    wait_limit: Duration,
}

impl Browser {
    /// Starts chromedriver and opens a Chromium session on a blank page.
    /// Fails, never skips, when Chromium or chromedriver is missing.
    pub async fn start() -> anyhow::Result<Browser> {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(binary).exists() {
                bail!(
                    "{binary} is missing: the browser tests need Debian's chromium and \
                     chromium-driver packages (.ci/run installs them)"
                );
            }
        }
        let permit = BROWSERS.acquire().await.expect("never closed");
        let driver = Driver::start().await?;
        let profile = tempfile::tempdir().context("a temporary Chromium profile")?;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    // The machine's network is closed: nothing may try it.
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .context("open a Chromium session through chromedriver")?;
        Ok(Browser {
            client,
            _driver: driver,
            _profile: profile,
            _permit: permit,
            wait_limit: WAIT_LIMIT,
        })
    }

    /// How long the waits of this browser last from now on.
    pub fn set_wait_limit(&mut self, limit: Duration) {
        self.wait_limit = limit;
    }

    /// Opens `url` and returns once the page has loaded.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("open {url}"))
    }

    /// The address of the page shown now.
    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// Waits until the JavaScript `condition` is true in the page.
    pub async fn wait_until(&self, condition: &str) -> anyhow::Result<()> {
        self.poll(&format!("`{condition}` to be true"), || async {
            Ok((self.eval(condition).await? == Value::Bool(true)).then_some(()))
        })
        .await
    }

    /// Goes into the page's frame number `index` (0 for the first): later
    /// calls act on the framed page until [`Browser::leave_frame`].
    pub async fn enter_frame(&self, index: u16) -> anyhow::Result<()> {
        self.client
            .enter_frame(index)
            .await
            .with_context(|| format!("enter frame {index}"))
    }

    /// Back from a frame to the page around it.
    pub async fn leave_frame(&self) -> anyhow::Result<()> {
        Ok(self.client.enter_parent_frame().await?)
    }

    /// Waits for a displayed element matching the CSS `selector`.
    pub async fn wait_for(&self, selector: &str) -> anyhow::Result<Element> {
        self.poll(&format!("a visible element matching `{selector}`"), || {
            self.visible(selector)
        })
        .await
    }

    /// Waits for a displayed element whose `data-testid` is `id`.
    pub async fn wait_for_testid(&self, id: &str) -> anyhow::Result<Element> {
        self.wait_for(&testid(id)).await
    }

    /// Waits until no element matching `selector` is displayed (gone or
    /// hidden).
    pub async fn wait_until_hidden(&self, selector: &str) -> anyhow::Result<()> {
        self.poll(
            &format!("no visible element matching `{selector}`"),
            || async { Ok(self.visible(selector).await?.is_none().then_some(())) },
        )
        .await
    }

    /// Waits until a displayed element matching `selector` shows `text`
    /// (a substring of its visible text), and returns all its text.
    pub async fn wait_for_text(&self, selector: &str, text: &str) -> anyhow::Result<String> {
        let what = format!("`{text}` in a visible element matching `{selector}`");
        self.poll(&what, || async {
            for element in self.client.find_all(Locator::Css(selector)).await? {
                let shown = match element.text().await {
                    Ok(shown) => shown,
                    Err(e) if e.is_stale_element_reference() => continue,
                    Err(e) => return Err(e.into()),
                };
                if shown.contains(text) {
                    return Ok(Some(shown));
                }
            }
            Ok(None)
        })
        .await
    }

    /// The visible text of the first displayed element matching `selector`.
    pub async fn text(&self, selector: &str) -> anyhow::Result<String> {
        let element = self.wait_for(selector).await?;
        element
            .text()
            .await
            .with_context(|| format!("read the text of `{selector}`"))
    }

    /// Clicks the first displayed element matching `selector`, once it
    /// takes clicks (nothing covers it, it is enabled).
    pub async fn click(&self, selector: &str) -> anyhow::Result<()> {
        self.poll(&format!("a click on `{selector}` to land"), || async {
            let Some(element) = self.visible(selector).await? else {
                return Ok(None);
            };
            match element.click().await {
                Ok(()) => Ok(Some(())),
                Err(e) if not_yet_clickable(&e) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Empties the input matching `selector`, then types `text` into it key
    /// by key.
    pub async fn type_into(&self, selector: &str, text: &str) -> anyhow::Result<()> {
        let element = self.wait_for(selector).await?;
        element
            .clear()
            .await
            .with_context(|| format!("clear `{selector}`"))?;
        element
            .send_keys(text)
            .await
            .with_context(|| format!("type into `{selector}`"))
    }

    /// Presses and releases `key` wherever the focus is.
    pub async fn press(&self, key: Key) -> anyhow::Result<()> {
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        self.client
            .perform_actions(keys)
            .await
            .with_context(|| format!("press {key:?}"))
    }

    /// The JSON value of the JavaScript `expression` (awaited when it is a
    /// promise).
    pub async fn eval(&self, expression: &str) -> anyhow::Result<Value> {
        self.client
            .execute(&format!("return ({expression});"), Vec::new())
            .await
            .with_context(|| format!("evaluate `{expression}`"))
    }

    /// Makes the page's viewport (`innerWidth` x `innerHeight`) this size,
    /// as on a phone at 375 x 800; the window is sized to fit it.
    pub async fn set_viewport(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.client.set_window_size(width, height).await?;
        let inner = self.eval("[window.innerWidth, window.innerHeight]").await?;
        let (Some(inner_width), Some(inner_height)) = (inner[0].as_u64(), inner[1].as_u64()) else {
            bail!("no viewport size in {inner}");
        };
        let (outer_width, outer_height) = self.client.get_window_size().await?;
        let window_width = outer_width + u64::from(width) - inner_width;
        let window_height = outer_height + u64::from(height) - inner_height;
        self.client
            .set_window_size(window_width as u32, window_height as u32)
            .await?;
        let inner = self.eval("[window.innerWidth, window.innerHeight]").await?;
        if inner != json!([width, height]) {
            bail!("asked for a {width}x{height} viewport, got {inner}");
        }
        Ok(())
    }

    /// Writes a PNG of the viewport to `path`, making its folder.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let png = self
            .client
            .screenshot()
            .await
            .context("take a screenshot")?;
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("create {}", folder.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// The first displayed element matching `selector`, if any.
    async fn visible(&self, selector: &str) -> anyhow::Result<Option<Element>> {
        for element in self.client.find_all(Locator::Css(selector)).await? {
            match element.is_displayed().await {
                Ok(true) => return Ok(Some(element)),
                Ok(false) => {}
                // Replaced while we looked: look again on the next round.
                Err(e) if e.is_stale_element_reference() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Runs `check` until it gives a value or the wait limit passes.
    async fn poll<T, F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + self.wait_limit;
        loop {
            if let Some(value) = check().await.with_context(|| format!("wait for {what}"))? {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(self.timed_out(what).await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The error of a wait that timed out: what, where, what the page shows.
    async fn timed_out(&self, what: &str) -> anyhow::Error {
        let url = match self.current_url().await {
            Ok(url) => url,
            Err(e) => format!("(no URL: {e:#})"),
        };
        let shown = match self
            .eval("document.body ? document.body.innerText : ''")
            .await
        {
            Ok(Value::String(text)) => snippet(&text),
            Ok(other) => other.to_string(),
            Err(e) => format!("(no text: {e:#})"),
        };
        let picture = failure_screenshot_path();
        let picture = match self.screenshot(&picture).await {
            Ok(()) => picture.display().to_string(),
            Err(e) => format!("(none: {e:#})"),
        };
        anyhow!(
            "timed out after {:?} waiting for {what}\n  at {url}\n  the page shows: {shown}\n  \
             screenshot: {picture}",
            self.wait_limit
        )
    }
}

/// A click that may land once the page settles: something covers the
/// element, it is disabled for now, or it was replaced.
fn not_yet_clickable(error: &CmdError) -> bool {
    error.is_element_not_interactable()
        || error.is_stale_element_reference()
        || matches!(error, CmdError::Standard(e) if e.error == ErrorStatus::ElementClickIntercepted)
}

/// The start of a page's text, on one line.
fn snippet(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((end, _)) => format!("{:?}...", &line[..end]),
        None => format!("{line:?}"),
    }
}

/// A fresh file name for the screenshot of a failed wait.
fn failure_screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("browser-failures")
        .join(format!("{}.png", uuid::Uuid::new_v4()))
}
