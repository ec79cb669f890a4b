//! The service's binary as a child process, for what only a real process
//! shows: how it answers signals, its exit status, what it writes to stderr.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{Notify, oneshot};
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use webhook_service::grpc::proto::event_service_client::EventServiceClient;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{CreateWebhookRequest, PublishEventRequest};

use super::{JWT_SECRET, authorized, binary, claims, hs256, publisher_token, to_struct};

/// Where the child writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    Pipe,
    /// A pseudo-terminal, as when a person runs it.
    Terminal,
}

/// `webhook-service` serving on a random loopback port; killed when dropped.
pub struct ServiceProcess {
    child: std::process::Child,
    pub address: SocketAddr,
    log: Arc<Mutex<Vec<u8>>>,
    /// Told at each line added to `log`.
    logged: Arc<Notify>,
    /// The thread copying its stderr into `log`: finished once all of it
    /// is there.
    reader: std::thread::JoinHandle<()>,
    channel: Channel,
}

impl ServiceProcess {
    /// Starts the binary on `database_url` with `envs` (its logs in a
    /// pipe) and waits until it serves.
    pub async fn start(database_url: &str, envs: &[(&str, &str)]) -> Self {
        Self::start_with(Stderr::Pipe, database_url, envs).await
    }

    pub async fn start_with(stderr: Stderr, database_url: &str, envs: &[(&str, &str)]) -> Self {
        Self::spawn(Self::command(database_url, envs), stderr).await
    }

    /// The command [`start`](Self::start) runs, for a test to adjust
    /// before [`spawn`](Self::spawn).
    pub fn command(database_url: &str, envs: &[(&str, &str)]) -> std::process::Command {
        let mut command = binary();
        for var in ["NO_COLOR", "LOG_FORMAT", "RUST_LOG"] {
            command.env_remove(var);
        }
        command
            .env("WEBHOOK_LISTEN_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", JWT_SECRET)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    /// Runs `command` (its logs to `stderr`) and waits until it serves.
    pub async fn spawn(mut command: std::process::Command, stderr: Stderr) -> Self {
        let (mut child, output): (_, Box<dyn Read + Send>) = match stderr {
            Stderr::Pipe => {
                let mut child = command.stderr(Stdio::piped()).spawn().expect("spawn");
                let output = child.stderr.take().expect("piped stderr");
                (child, Box::new(output))
            }
            Stderr::Terminal => {
                let (terminal, child_end) = pseudo_terminal();
                let child = command.stderr(child_end).spawn().expect("spawn");
                // The command's copy of the child's end must close, or the
                // terminal never reads as ended.
                drop(command);
                (child, Box::new(std::fs::File::from(terminal)))
            }
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let (serving, address) = oneshot::channel();
        let logged = Arc::new(Notify::new());
        let (sink, told) = (log.clone(), logged.clone());
        let reader = std::thread::spawn(move || read_log(output, &sink, &told, serving));
        let address = match tokio::time::timeout(Duration::from_secs(30), address).await {
            Ok(Ok(address)) => address,
            outcome => {
                let _ = child.kill();
                let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
                panic!("the service did not start ({outcome:?}):\n{log}");
            }
        };
        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy();
        Self {
            child,
            address,
            log,
            logged,
            reader,
            channel,
        }
    }

    /// A channel to its gRPC server, for calls with metadata of their own.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many files (sockets included) it has open now.
    pub fn open_files(&self) -> usize {
        let path = format!("/proc/{}/fd", self.pid());
        std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .count()
    }

    /// Starts the binary on a new SQLite database in `dir` with at most
    /// `open_files` descriptors (its hard limit too: the service raises its
    /// soft limit to the hard one) and a handshake timeout of a minute, so
    /// that the silent clients of a test hold on to their connections.
    pub async fn start_with_open_files(dir: &std::path::Path, open_files: libc::rlim_t) -> Self {
        let url = format!("sqlite://{}/w.db", dir.display());
        let mut command = Self::command(&url, &[("WEBHOOK_HANDSHAKE_TIMEOUT", "60s")]);
        limit_open_files(&mut command, open_files, open_files);
        Self::spawn(command, Stderr::Pipe).await
    }

    /// How many files it has open once that number has stopped moving for
    /// half a second (it accepts what is queued); panics after ten seconds.
    pub async fn open_files_once_settled(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.open_files();
        let mut steady_since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.open_files();
            if now != last {
                (last, steady_since) = (now, Instant::now());
            } else if steady_since.elapsed() >= Duration::from_millis(500) {
                return now;
            }
            assert!(Instant::now() < deadline, "still moving: {now} files open");
        }
    }

    /// Sends SIGTERM, as an orchestrator stopping it does.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) takes any pid and signal number; it only fails.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Waits for the process to exit and for the last of its log to be
    /// read (a pipe may still hold lines when the exit is seen); panics
    /// with its log after `limit`.
    pub async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap()
                && self.reader.is_finished()
            {
                return status;
            }
            if Instant::now() >= deadline {
                panic!("still running after {limit:?}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The address of its REST face, once it says it serves it; panics
    /// with its log after ten seconds.
    pub async fn http_address(&self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            let line = log.lines().find(|line| line.contains("serving REST"));
            if let Some(address) = line.and_then(loopback_address) {
                return address;
            }
            assert!(Instant::now() < deadline, "no REST face:\n{log}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What it has written to stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// Its log, once `ready` says it holds what the caller waits for;
    /// fails after `limit`, showing the log. Wakes at each line written.
    pub async fn wait_for_log(&self, limit: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let line = self.logged.notified();
            tokio::pin!(line);
            line.as_mut().enable();
            let log = self.log();
            if ready(&log) {
                return log;
            }
            assert!(
                tokio::time::timeout_at(deadline, line).await.is_ok(),
                "not logged within {limit:?}:\n{log}"
            );
        }
    }

    /// Creates a webhook for `url` in `organization` as one of its OWNERs;
    /// returns its id.
    pub async fn subscribe(&self, organization: Uuid, url: &str) -> String {
        let request = CreateWebhookRequest {
            organization_id: organization.to_string(),
            url: url.to_owned(),
            events: vec!["member.added".to_owned()],
            ..Default::default()
        };
        let token = hs256(&claims(organization, "OWNER"));
        WebhookServiceClient::new(self.channel.clone())
            .create_webhook(authorized(request, &token))
            .await
            .expect("create webhook")
            .into_inner()
            .webhook
            .expect("a webhook")
            .id
    }

    /// Publishes a `member.added` event numbered `n` for `organization`, on
    /// one connection kept open; returns its id.
    pub async fn publish(&self, organization: Uuid, n: usize) -> Result<String, Status> {
        self.publish_event(PublishEventRequest {
            organization_id: organization.to_string(),
            r#type: "member.added".to_owned(),
            data: Some(to_struct(json!({ "n": n }))),
            ..Default::default()
        })
        .await
    }

    /// Publishes `request` with a publisher's token, on the connection
    /// kept open; returns the event's id.
    pub async fn publish_event(&self, request: PublishEventRequest) -> Result<String, Status> {
        EventServiceClient::new(self.channel.clone())
            .publish_event(authorized(request, &publisher_token()))
            .await
            .map(|r| r.into_inner().event_id)
    }
}

impl ServiceProcess {
    /// Kills it with SIGKILL, as a crash or the OOM killer would: no
    /// shutdown, nothing given back. Returns once it is gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap the killed service");
    }

    /// The local ports of its TCP connections to port `remote` now: which
    /// of the connections a server on that port sees are this process's.
    pub fn ports_connected_to(&self, remote: u16) -> HashSet<u16> {
        let pid = self.pid();
        // Its sockets' inodes; a descriptor closed meanwhile is skipped.
        let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("its descriptors")
            .flatten()
            .filter_map(|entry| std::fs::read_link(entry.path()).ok())
            .filter_map(|link| {
                let link = link.to_str()?;
                let inode = link.strip_prefix("socket:[")?.strip_suffix(']')?;
                Some(inode.to_owned())
            })
            .collect();
        // The network namespace's TCP sockets: `sl local_address rem_address
        // st queues tr retrnsmt uid timeout inode ...`, addresses as hex
        // `ADDRESS:PORT`.
        let mut ports = HashSet::new();
        for table in ["tcp", "tcp6"] {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let port = |field: &str| {
                    let hex = field.rsplit(':').next().unwrap_or_default();
                    u16::from_str_radix(hex, 16).ok()
                };
                if fields.len() > 9 && inodes.contains(fields[9]) && port(fields[2]) == Some(remote)
                {
                    ports.extend(port(fields[1]));
                }
            }
        }
        ports
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the child's log into `log`, and sends the address it serves on
/// once it says so. Ends when the child's stderr closes.
fn read_log(
    output: Box<dyn Read + Send>,
    log: &Mutex<Vec<u8>>,
    logged: &Notify,
    serving: oneshot::Sender<SocketAddr>,
) {
    let mut serving = Some(serving);
    let mut output = BufReader::new(output);
    let mut line = Vec::new();
    // A terminal whose other end has closed reads as an error (EIO).
    while output.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        log.lock().unwrap().extend_from_slice(&line);
        logged.notify_waiters();
        let text = String::from_utf8_lossy(&line);
        if text.contains("serving gRPC")
            && let Some(address) = loopback_address(&text)
            && let Some(serving) = serving.take()
        {
            let _ = serving.send(address);
        }
        line.clear();
    }
}

/// The first `127.0.0.1:PORT` in `text`, whatever the log format.
fn loopback_address(text: &str) -> Option<SocketAddr> {
    let start = text.find("127.0.0.1:")?;
    let rest = &text[start + "127.0.0.1:".len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    format!("127.0.0.1:{}", &rest[..digits]).parse().ok()
}

/// Both ends of a new pseudo-terminal: the one to read, and the one to give
/// the child as its stderr.
fn pseudo_terminal() -> (OwnedFd, OwnedFd) {
    let (mut terminal, mut child) = (0, 0);
    // SAFETY: openpty writes two descriptors that are then ours alone;
    // null name, termios and window size are allowed.
    let opened = unsafe {
        libc::openpty(
            &mut terminal,
            &mut child,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned nowhere else.
    unsafe { (OwnedFd::from_raw_fd(terminal), OwnedFd::from_raw_fd(child)) }
}

/// Makes `command` start with at most `soft` open files, and a hard limit of
/// `hard` that only root could raise.
pub fn limit_open_files(
    command: &mut std::process::Command,
    soft: libc::rlim_t,
    hard: libc::rlim_t,
) {
    use std::os::unix::process::CommandExt;
    let rlimit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}
