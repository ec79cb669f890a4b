//! chromedriver, started on a free loopback port and killed with every
//! Chromium it started.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use serde_json::Value;

use super::{CHROMEDRIVER, WAIT_LIMIT};

/// chromedriver in a process group of its own, with the Chromium it starts;
/// the whole group is killed on drop.
pub(super) struct Driver {
    child: Child,
    /// Where it answers WebDriver.
    pub url: String,
}

impl Driver {
    /// Starts chromedriver on a free port (it picks one for `--port=0` and
    /// says which) and waits until it answers `/status` as ready. With
    /// `--port=0` chromedriver sometimes exits at once with "IPv4 port not
    /// available" (the port it picked was taken before it bound it again,
    /// under parallel tests): that start is tried again, a few times.
    pub async fn start() -> anyhow::Result<Driver> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once().await {
                Err(e) if tries < 4 && e.to_string().contains("port not available") => continue,
                started => return started,
            }
        }
    }

    async fn start_once() -> anyhow::Result<Driver> {
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("start {CHROMEDRIVER}"))?;
        let stdout = child.stdout.take().expect("piped");
        let driver_port = tokio::task::spawn_blocking(move || read_port(stdout));
        // A driver that never says its port is killed, which ends the read.
        let mut driver = Driver {
            child,
            url: String::new(),
        };
        let port = match tokio::time::timeout(WAIT_LIMIT, driver_port).await {
            Ok(read) => read.expect("no panic")?,
            Err(_) => bail!("chromedriver did not say its port within {WAIT_LIMIT:?}"),
        };
        driver.url = format!("http://127.0.0.1:{port}");
        driver.wait_until_ready().await?;
        Ok(driver)
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build::<_, Empty<bytes::Bytes>>(HttpConnector::new());
        let status = format!("{}/status", self.url).parse()?;
        let deadline = Instant::now() + WAIT_LIMIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            match http.get(Clone::clone(&status)).await {
                Ok(response) => {
                    let body = response.into_body().collect().await?.to_bytes();
                    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                    if body["value"]["ready"] == true {
                        return Ok(());
                    }
                    last = body.to_string();
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "chromedriver at {} was not ready within {WAIT_LIMIT:?}: {last}",
            self.url
        )
    }
}

/// The port in chromedriver's "... started successfully on port N." line;
/// the rest of its output is drained on this thread so that it never
/// blocks on a full pipe.
fn read_port(stdout: std::process::ChildStdout) -> anyhow::Result<u16> {
    let mut lines = BufReader::new(stdout).lines();
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let line = line.context("read chromedriver's output")?;
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            let port = rest
                .trim_end_matches('.')
                .parse()
                .with_context(|| format!("a port in chromedriver's line {line:?}"))?;
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(port);
        }
        said.push(line);
    }
    bail!("chromedriver stopped without saying its port: {said:?}")
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: a plain system call on a process group we made.
        unsafe { libc::killpg(group, libc::SIGKILL) };
        let _ = self.child.wait();
        // Chromium's processes are no children of ours: wait until they
        // are gone (or only zombies) before the profile is removed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while live_members(group) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// How many processes of `group` are alive (not zombies), from /proc.
fn live_members(group: libc::pid_t) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // After the command in parentheses: state, parent, group.
            let Some((_, fields)) = stat.rsplit_once(") ") else {
                return false;
            };
            let mut fields = fields.split(' ');
            let state = fields.next();
            let member = fields.nth(1).and_then(|g| g.parse().ok()) == Some(group);
            member && state != Some("Z")
        })
        .count()
}
