//! A throwaway PostgreSQL cluster for this test process, made from the
//! machine's own server binaries. One cluster per process, one database per
//! test. A watcher process stops the cluster and deletes it when this process
//! exits, however it exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct Cluster {
    bin: PathBuf,
    port: u16,
    data: PathBuf,
    /// The server's options, to start it again with.
    options: String,
    log: PathBuf,
    as_root: bool,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

/// Tests trade durability for speed; a benchmark must not.
fn start() -> Option<Cluster> {
    Cluster::start(false)
}

/// True when a cluster runs; says loudly, once, when the machine has no
/// PostgreSQL server binaries.
pub fn available() -> bool {
    CLUSTER.get_or_init(start).is_some()
}

/// The URL of a new, empty database, or `None` when no cluster can run.
pub fn fresh_database() -> Option<String> {
    Some(CLUSTER.get_or_init(start).as_ref()?.create_database())
}

impl Cluster {
    /// The URL of a new, empty database in this cluster.
    pub fn create_database(&self) -> String {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let port = self.port.to_string();
        let status = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", &name])
            .status()
            .expect("run createdb");
        assert!(status.success(), "createdb failed");
        format!("postgres://postgres@127.0.0.1:{port}/{name}")
    }

    /// A new cluster that lives as long as this process; `durable` keeps
    /// fsync on. `None` (said loudly) without PostgreSQL server binaries.
    pub fn start(durable: bool) -> Option<Cluster> {
        Self::start_with(durable, &[])
    }

    /// As [`Cluster::start`], with more server `settings` (name, value).
    pub fn start_with(durable: bool, settings: &[(&str, &str)]) -> Option<Cluster> {
        let Some(bin) = find_binaries() else {
            eprintln!(
                "\n*** SKIPPED: PostgreSQL tests. No PostgreSQL server binaries found \
             (set PG_BIN, or install the `postgresql` package). ***\n"
            );
            return None;
        };
        let as_root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "webhook-service-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create cluster dir");
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir));
        }
        let data = dir.join("data");
        run(pg_command(&bin, "initdb", as_root)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]));

        watch_and_clean_up(&bin, &dir, &data, as_root);
        let fsync = if durable { "on" } else { "off" };
        for _ in 0..5 {
            let port = free_port();
            let mut options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=300",
                dir.display()
            );
            for (name, value) in settings {
                options.push_str(&format!(" -c {name}={value}"));
            }
            let cluster = Cluster {
                bin: bin.clone(),
                port,
                data: data.clone(),
                options,
                log: dir.join("server.log"),
                as_root,
            };
            if cluster.pg_ctl_start() {
                return Some(cluster);
            }
        }
        panic!("PostgreSQL did not start; see {}/server.log", dir.display());
    }

    /// Kills the server as a crash would (`pg_ctl stop -m immediate`: no
    /// checkpoint, what is only in its shared memory is gone), then starts
    /// it again, which recovers from the WAL.
    pub fn crash_and_recover(&self) {
        run(pg_command(&self.bin, "pg_ctl", self.as_root)
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"]));
        assert!(
            self.pg_ctl_start(),
            "PostgreSQL did not start again; see {}",
            self.log.display()
        );
    }

    fn pg_ctl_start(&self) -> bool {
        pg_command(&self.bin, "pg_ctl", self.as_root)
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-o", &self.options, "-w", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl")
            .success()
    }
}

/// Stops the cluster and removes its files once this test process is gone.
fn watch_and_clean_up(bin: &Path, dir: &Path, data: &Path, as_root: bool) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if as_root {
        format!(
            "runuser -u postgres -- {} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    } else {
        format!(
            "{} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop}; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    // Deliberately not waited for: it must outlive this process.
    #[allow(clippy::zombie_processes)]
    Command::new("setsid")
        .args(["bash", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the cluster watcher");
}

fn pg_command(bin: &Path, program: &str, as_root: bool) -> Command {
    if as_root {
        // The server refuses to run as root.
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

fn find_binaries() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn run(command: &mut Command) {
    let output = command.output().expect("run command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
