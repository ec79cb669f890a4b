//! What the listener does with connections that do nothing: silent ones and
//! idle ones are closed, busy ones are left alone, and running out of file
//! descriptors does not make it spin. (Connections holding only health
//! `Watch` streams: see `watch_limits.rs`.)

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tonic::codegen::{Bytes, http};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::health::check_over_h2;
use crate::support::process::{ServiceProcess, limit_open_files};
use crate::support::{Backend, TestApp, service_command, spawn_app_with};

#[tokio::test]
async fn silent_connections_are_closed_and_the_service_stays_healthy() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.handshake_timeout = Duration::from_secs(1)
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(app.address).await.unwrap());
    }

    assert_serving(&app).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    for (i, connection) in silent.iter_mut().enumerate() {
        let closed = timeout_at(deadline, read_until_closed(connection)).await;
        assert!(
            closed.is_ok(),
            "silent connection {i} still open after 15 s"
        );
    }
    assert_serving(&app).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout_but_a_busy_one_is_not() {
    let idle_timeout = Duration::from_secs(1);
    let app = spawn_app_with(Backend::Sqlite, |s| s.idle_timeout = idle_timeout).await;

    // A call in progress on a connection of its own: a `Check` whose
    // request message the client has not sent yet.
    let tcp = TcpStream::connect(app.address).await.unwrap();
    let (busy, busy_connection) = h2::client::handshake(tcp).await.unwrap();
    let busy_connection = tokio::spawn(busy_connection);
    let request = http::Request::post(format!(
        "http://{}/grpc.health.v1.Health/Check",
        app.address
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    let (response, mut send) = busy
        .ready()
        .await
        .unwrap()
        .send_request(request, false)
        .unwrap();

    // A plain HTTP/2 connection that makes one call and then does nothing.
    let tcp = TcpStream::connect(app.address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    check_over_h2(app.address, client.clone()).await;
    let idle_since = Instant::now();
    let ended = timeout(5 * idle_timeout, connection).await;
    assert!(ended.is_ok(), "the idle connection is still open");
    assert!(
        idle_since.elapsed() >= idle_timeout / 2,
        "closed after {:?}, before it could have been idle long enough",
        idle_since.elapsed()
    );
    drop(client);

    // By now the call has been in progress for more than the idle timeout,
    // and it goes on: its connection is open and it can be finished.
    assert!(!busy_connection.is_finished(), "the busy connection closed");
    // An empty HealthCheckRequest: not compressed, zero bytes long.
    send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();
    let response = timeout(idle_timeout, response)
        .await
        .expect("an answer")
        .expect("the call finished on its connection");
    assert_eq!(response.status(), http::StatusCode::OK);
}

#[test]
fn accept_errors_back_off_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = service_command(&dir);
    // The silent connections below must stay and hold their descriptors.
    command.env("WEBHOOK_HANDSHAKE_TIMEOUT", "60s");
    // More slots than descriptors, so that accepting runs out of these.
    command.env("WEBHOOK_GRPC_MAX_CONNECTIONS", "1000");
    limit_open_files(&mut command, 200, 200);
    let service = RunningService::start(command);

    // More connections than descriptors: the rest wait in the listen queue
    // and every accept fails with EMFILE.
    let _silent: Vec<_> = (0..260)
        .map(|_| std::net::TcpStream::connect(service.address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(1));

    let window = Duration::from_secs(2);
    let before = cpu_time(service.pid());
    std::thread::sleep(window);
    let used = cpu_time(service.pid()) - before;
    // Retrying accept at once uses most of a core; backing off, next to nothing.
    assert!(
        used < window / 4,
        "the service used {used:?} of CPU in {window:?} while out of descriptors"
    );

    let warnings = service
        .log
        .try_iter()
        .filter(|line| line["message"] == "cannot accept connections; pausing before trying again")
        .count();
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} accept warnings, expected one (rate-limited)"
    );
}

#[test]
fn the_service_raises_its_open_file_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = service_command(&dir);
    limit_open_files(&mut command, 256, 1024);
    let service = RunningService::start(command);

    let limits = std::fs::read_to_string(format!("/proc/{}/limits", service.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["1024", "1024"], "{open_files}");
}

async fn assert_serving(app: &TestApp) {
    let response = HealthClient::new(app.channel().await)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.status(), ServingStatus::Serving);
}

/// Reads (and drops) whatever the server sends until it closes.
async fn read_until_closed(connection: &mut TcpStream) {
    let mut buffer = [0; 1024];
    while let Ok(1..) = connection.read(&mut buffer).await {}
}

/// The binary, running; killed when the test ends, however it ends.
struct RunningService {
    child: Child,
    /// Where it serves, from its `serving gRPC` line.
    address: SocketAddr,
    /// Its JSON log lines, parsed, as a thread reads them (which also keeps
    /// the pipe from filling up).
    log: mpsc::Receiver<serde_json::Value>,
}

impl RunningService {
    /// Starts `command` and waits until it says it serves.
    fn start(mut command: std::process::Command) -> Self {
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let parsed = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "message": line }));
                if send.send(parsed).is_err() {
                    return;
                }
            }
        });
        let started = std::iter::from_fn(|| log.recv_timeout(Duration::from_secs(30)).ok())
            .find(|line| line["message"] == "serving gRPC")
            .expect("the service starts and says where it serves");
        let address = started["address"].as_str().unwrap().parse().unwrap();
        Self {
            child,
            address,
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system CPU time the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may
    // hold spaces: utime and stime are the 12th and 13th of them.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Silent gRPC clients hold at most the gRPC listener's share of the
/// descriptors (WEBHOOK_GRPC_MAX_CONNECTIONS, a quarter of the open-file
/// limit by default): the REST face, the database and deliveries keep the
/// rest.
#[tokio::test]
async fn silent_grpc_clients_cannot_take_the_descriptors_the_rest_face_needs() {
    const OPEN_FILES: libc::rlim_t = 200;
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_with_open_files(dir.path(), OPEN_FILES).await;
    let rest = service.http_address().await;

    // More silent clients than the service has descriptors, or as many as
    // its listen queue takes (then a connection attempt waits for the
    // kernel to retry, a second at least).
    let mut silent = Vec::new();
    for _ in 0..OPEN_FILES + 64 {
        let connecting = TcpStream::connect(service.address);
        let Ok(stream) = timeout(Duration::from_millis(500), connecting).await else {
            break;
        };
        silent.push(stream.unwrap());
    }
    let open = service.open_files_once_settled().await;

    let answer = timeout(
        Duration::from_secs(5),
        status_of_get(rest, "/v1/openapi.json"),
    )
    .await;
    assert!(
        matches!(answer, Ok(Ok(200))),
        "REST on a connection opened after ({open} files open, {} silent gRPC clients): {answer:?}",
        silent.len()
    );
    assert!(
        open < OPEN_FILES as usize / 2,
        "{open} of {OPEN_FILES} descriptors in use, with {} silent gRPC clients",
        silent.len()
    );
    drop(silent);
}

/// The status code of `GET path` over a new HTTP/1.1 connection to `address`.
async fn status_of_get(address: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    let line = String::from_utf8_lossy(&head);
    line[9..12]
        .parse()
        .map_err(|_| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}
