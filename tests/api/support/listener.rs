//! `webhook-service listen --json` as a child process: the port it took,
//! what it says at start, and each request it prints, read with a deadline.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use super::binary;

/// A running `listen --json`; killed when dropped.
pub struct Listener {
    child: Child,
    pub port: u16,
    /// What it has printed on stdout, one JSON object per line.
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Listener {
    /// Starts `listen --json` with its CA in `state_dir`, and `args`;
    /// waits (ten seconds at most) until it has written its port.
    pub async fn start(state_dir: &Path, args: &[&str]) -> Self {
        let port_file = state_dir.join(format!("port-{}", uuid::Uuid::new_v4()));
        let mut child = binary()
            .env_remove("WEBHOOK_LISTEN_SECRET")
            .args(["listen", "--json", "--state-dir"])
            .arg(state_dir)
            .arg("--port-file")
            .arg(&port_file)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn listen");
        let (sender, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut output = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0; 4096];
            while let Ok(n @ 1..) = output.read(&mut chunk) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let mut listener = Self {
            child,
            port: 0,
            lines,
            stderr,
        };
        listener.port = listener.wait_for_port(&port_file).await;
        listener
    }

    async fn wait_for_port(&mut self, port_file: &Path) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(port_file) {
                return text.parse().expect("a port number");
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("listen exited ({status}):\n{}", self.stderr());
            }
            assert!(Instant::now() < deadline, "no port:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `https://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The next request it printed; panics after `limit`.
    pub async fn next_request(&mut self, limit: Duration) -> Value {
        match tokio::time::timeout(limit, self.lines.recv()).await {
            Ok(Some(line)) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")),
            outcome => panic!(
                "no request printed within {limit:?} ({outcome:?}):\n{}",
                self.stderr()
            ),
        }
    }

    /// Its stderr once it holds every one of `texts`: the port file can be
    /// written before the reader thread has caught up with what came
    /// before it. Panics after ten seconds, showing what it has.
    pub async fn stderr_with(&self, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stderr = self.stderr();
            if texts.iter().all(|t| stderr.contains(t)) {
                return stderr;
            }
            assert!(
                Instant::now() < deadline,
                "stderr never held {texts:?}:\n{stderr}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (ten seconds at most) for it to exit.
    pub async fn stop(mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) takes any pid and signal number; it only fails.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CA certificate `listen` keeps in `state_dir`.
pub fn ca_file(state_dir: &Path) -> PathBuf {
    state_dir.join("ca.pem")
}
