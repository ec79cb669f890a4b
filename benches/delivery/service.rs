//! The service under test, as a child process of its own (so its memory is
//! its own), and what the bench needs to drive and watch it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

use webhook_service::grpc::proto::event_service_client::EventServiceClient;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{CreateWebhookRequest, PublishEventRequest};

use crate::{database, proc_tree};

const JWT_SECRET: &str = "bench-secret";

pub struct Service {
    child: Child,
    pub address: String,
    /// Where it answers `GET /metrics`.
    metrics_address: String,
    pub organization: Uuid,
    db: DatabaseConnection,
}

impl Service {
    /// Starts `webhook-service` on `database_url`, trusting `ca_file`, with
    /// extra settings `env`, and waits until it serves.
    pub async fn start(database_url: &str, ca_file: &Path, env: &[(&str, &str)]) -> Self {
        let address = free_address();
        let metrics_address = free_address();
        // BENCH_SERVICE_BINARY: another build to measure (an A/B run).
        let binary = std::env::var("BENCH_SERVICE_BINARY")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_webhook-service").to_owned());
        let mut command = Command::new(binary);
        command
            .env("WEBHOOK_LISTEN_ADDR", &address)
            // Not the default port, which another run may hold.
            .env("WEBHOOK_METRICS_ADDR", &metrics_address)
            // Nor the REST face's default (8080): the bench calls gRPC only.
            .env("WEBHOOK_HTTP_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
            .env("WEBHOOK_CA_FILE", ca_file)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start webhook-service");
        let service = Self {
            child,
            address,
            metrics_address,
            organization: Uuid::new_v4(),
            // Named, so that the database meter can tell its backends apart.
            db: Database::connect(database::bench_url(database_url))
                .await
                .expect("bench connects to the database"),
        };
        service.wait_until_serving().await;
        service
    }

    async fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(channel) = Channel::from_shared(format!("http://{}", self.address))
                .unwrap()
                .connect()
                .await
            {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                if HealthClient::new(channel).check(request).await.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "webhook-service did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub fn publisher_token(&self) -> String {
        token(json!({"sub": "bench", "scope": "events:publish"}))
    }

    /// Registers `count` webhooks for `member.added` at `url_of(i)`.
    pub async fn subscribe(&self, count: usize, url_of: impl Fn(usize) -> String) {
        self.subscribe_in(self.organization, count, url_of).await;
    }

    /// Registers, in `organization`, `count` webhooks for `member.added` at
    /// `url_of(i)`.
    pub async fn subscribe_in(
        &self,
        organization: Uuid,
        count: usize,
        url_of: impl Fn(usize) -> String,
    ) {
        self.subscribe_in_to(organization, &["member.added"], count, url_of)
            .await;
    }

    /// Registers, in `organization`, `count` webhooks for `events` at
    /// `url_of(i)`.
    pub async fn subscribe_in_to(
        &self,
        organization: Uuid,
        events: &[&str],
        count: usize,
        url_of: impl Fn(usize) -> String,
    ) {
        let mut client = WebhookServiceClient::new(self.channel().await);
        for i in 0..count {
            let request = CreateWebhookRequest {
                organization_id: organization.to_string(),
                url: url_of(i),
                events: events.iter().map(|e| (*e).into()).collect(),
                ..Default::default()
            };
            client
                .create_webhook(authorized(request, &owner_token(organization)))
                .await
                .expect("create webhook");
        }
    }

    pub async fn event_clients(&self, count: usize) -> Vec<EventServiceClient<Channel>> {
        let mut clients = Vec::new();
        for _ in 0..count {
            clients.push(EventServiceClient::new(self.channel().await));
        }
        clients
    }

    pub fn publish_request(&self, n: usize) -> tonic::Request<PublishEventRequest> {
        self.publish_request_in(self.organization, n)
    }

    pub fn publish_request_in(
        &self,
        organization: Uuid,
        n: usize,
    ) -> tonic::Request<PublishEventRequest> {
        let data = json!({"user_id": format!("u_{n:08}"), "email": format!("user{n}@example.com"), "role": "MEMBER"});
        let request = PublishEventRequest {
            organization_id: organization.to_string(),
            r#type: "member.added".into(),
            data: Some(to_struct(data)),
            ..Default::default()
        };
        authorized(request, &self.publisher_token())
    }

    /// Deliveries the store says succeeded.
    pub async fn succeeded(&self) -> u64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'succeeded'",
            ))
            .await
            .expect("count deliveries")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("a count") as u64
    }

    /// Deliveries of `organization` the store says succeeded.
    pub async fn succeeded_in(&self, organization: Uuid) -> u64 {
        let backend = self.db.get_database_backend();
        let placeholder = if backend == sea_orm::DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let sql = format!(
            "SELECT COUNT(*) AS n FROM deliveries \
             WHERE status = 'succeeded' AND organization_id = {placeholder}"
        );
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [organization.into()],
            ))
            .await
            .expect("count deliveries")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("a count") as u64
    }

    /// Waits until the store says `count` deliveries succeeded.
    pub async fn wait_succeeded(&self, count: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.succeeded().await < count {
            assert!(
                Instant::now() < deadline,
                "deliveries did not all succeed in {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the store says `count` deliveries of `organization`
    /// succeeded.
    pub async fn wait_succeeded_in(&self, organization: Uuid, count: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.succeeded_in(organization).await < count {
            assert!(
                Instant::now() < deadline,
                "deliveries did not all succeed in {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (current, peak) resident memory in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The database now, to tell what a run cost it; `None` on SQLite.
    pub async fn database_reading(&self) -> Option<database::Reading> {
        database::Reading::take(&self.db).await
    }

    /// CPU so far of the service's own PostgreSQL backends, by pid; `None`
    /// on SQLite.
    pub async fn client_backends(&self) -> Option<Vec<(u32, f64)>> {
        database::client_backends(&self.db).await
    }

    /// What the database spent since `reading`.
    pub async fn database_spent(&self, reading: database::Reading) -> database::Spent {
        reading.spent_since(&self.db).await
    }

    /// CPU time the service has used so far, user and system, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = proc_tree::read(self.child.id()).expect("the service's /proc stat");
        stat.own_ticks() as f64 / proc_tree::TICKS_PER_SECOND
    }
}

/// What the service asked of its database so far, from its metrics.
#[derive(Debug, Clone)]
pub struct Statements {
    /// By kind (`select`, `insert`, ...: the `kind` label).
    pub by_kind: BTreeMap<String, f64>,
    pub write_transactions: f64,
}

impl Statements {
    pub fn total(&self) -> f64 {
        self.by_kind.values().sum()
    }

    pub fn minus(&self, before: &Self) -> Self {
        Self {
            by_kind: self
                .by_kind
                .iter()
                .map(|(kind, n)| (kind.clone(), n - before.by_kind.get(kind).unwrap_or(&0.0)))
                .collect(),
            write_transactions: self.write_transactions - before.write_transactions,
        }
    }
}

impl Service {
    /// The statements and write transactions the service has run on its
    /// database so far; `None` from a build that does not count them (an
    /// older one, `BENCH_SERVICE_BINARY`).
    pub async fn statements(&self) -> Option<Statements> {
        let text = get_metrics(&self.metrics_address).await?;
        let mut by_kind = BTreeMap::new();
        let mut write_transactions = None;
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if let Some(labels) = series.strip_prefix("webhook_database_statements_total{") {
                let kind = labels.strip_prefix("kind=\"")?.strip_suffix("\"}")?;
                by_kind.insert(kind.to_owned(), value);
            } else if series == "webhook_database_write_transactions_total" {
                write_transactions = Some(value);
            }
        }
        Some(Statements {
            by_kind: (!by_kind.is_empty()).then_some(by_kind)?,
            write_transactions: write_transactions?,
        })
    }
}

/// `GET /metrics` at `address`, over HTTP/1.0: the answer ends when the
/// connection closes.
async fn get_metrics(address: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
        .await
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let ok = head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200");
    ok.then(|| body.to_owned())
}

/// `127.0.0.1:<port>` with a port free now, for the service to listen on.
pub fn free_address() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    format!("127.0.0.1:{port}")
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn owner_token(organization: Uuid) -> String {
    token(json!({"sub": "bench", "org_id": organization.to_string(), "role": "OWNER"}))
}

/// A platform's backend allowed to change the event catalogue.
pub fn catalogue_token() -> String {
    token(json!({"sub": "bench", "scope": "event-types:write"}))
}

fn token(mut claims: serde_json::Value) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    claims["iat"] = now.into();
    claims["exp"] = (now + 3600).into();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign")
}

pub fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn to_struct(value: serde_json::Value) -> pbjson_types::Struct {
    let serde_json::Value::Object(map) = value else {
        unreachable!("bench data is an object")
    };
    pbjson_types::Struct {
        fields: map
            .into_iter()
            .map(|(k, v)| {
                let kind = pbjson_types::value::Kind::StringValue(v.as_str().unwrap_or("").into());
                (k, pbjson_types::Value { kind: Some(kind) })
            })
            .collect(),
    }
}
