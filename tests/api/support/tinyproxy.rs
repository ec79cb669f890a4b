//! A real HTTP CONNECT proxy for the egress tests: Debian's tinyproxy, with
//! Basic credentials, on a loopback port, logging every CONNECT it is asked
//! for. `.ci/run` installs it; a test that needs it fails without it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const USER: &str = "egress";
/// tinyproxy takes only some characters here (no `:` or `@`).
pub const PASSWORD: &str = "s3cret-egress";

pub struct Tinyproxy {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Tinyproxy {
    /// On a free loopback port.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// On `port`, up and taking connections when this returns.
    pub async fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tinyproxy.log");
        let config = dir.path().join("tinyproxy.conf");
        // No ConnectPort line: CONNECT to any port (the receivers' are random).
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 200\n\
                 LogFile \"{}\"\nLogLevel Connect\nBasicAuth {USER} {PASSWORD}\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .expect("tinyproxy must be installed (Debian's tinyproxy; .ci/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "tinyproxy did not listen on {port}: {}",
                std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// WEBHOOK_EGRESS_PROXY for it.
    pub fn url(&self) -> String {
        url_on(self.port)
    }

    /// The targets of the CONNECTs it was asked for, in order.
    pub fn connects(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|line| line.split("): CONNECT ").nth(1))
            .filter_map(|rest| rest.split(' ').next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// WEBHOOK_EGRESS_PROXY for a tinyproxy on `port`, started or not.
pub fn url_on(port: u16) -> String {
    format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}")
}

/// A loopback port nothing listens on (at the time of the call).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
