//! Starts the real service on a random loopback port over a real database and
//! hands tests a real gRPC client.

mod activity;
pub mod browser;
mod calls;
pub mod catalogue;
pub mod health;
pub mod jwks;
pub mod listener;
pub mod oauth2;
pub mod otlp;
pub mod otlp_tls;
pub mod pki;
pub mod portal;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod receiver;
pub mod rest;
pub mod scrape;
mod signatures;
pub mod sockets;
pub mod tinyproxy;
pub mod tls;
mod tokens;
mod values;

use std::net::SocketAddr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use webhook_service::auth::JwksStats;
use webhook_service::config::Settings;
use webhook_service::delivery::{Activity, HandoffsInTransit};
use webhook_service::grpc::proto::event_service_client::EventServiceClient;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{
    CreateWebhookRequest, CreateWebhookResponse, Delivery, GetDeliveryRequest, GetWebhookRequest,
    ListDeliveriesRequest, PublishEventRequest, PublishEventResponse, UpdateWebhookRequest,
    Webhook,
};
use webhook_service::service::Publisher;
use webhook_service::startup::Application;

use self::receiver::Receiver;
pub use self::signatures::*;
pub use self::tokens::*;
pub use self::values::*;

/// The HS256 secret every test server trusts.
pub const JWT_SECRET: &str = "test-jwt-secret-4f1c9a";

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if $crate::support::postgres_available() {
                        super::$test($crate::support::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

/// False (and said loudly once) when this machine cannot run PostgreSQL.
/// The 13 built-in event types, as the seed's contract names them: written
/// out here, not read from the code, so that a change to them fails.
pub const BUILT_IN_TYPES: [&str; 13] = [
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "member.added",
    "member.removed",
    "member.role_updated",
    "invite.created",
    "invite.accepted",
    "invite.cancelled",
    "oauth_app.created",
    "oauth_app.revoked",
    "webhook.created",
    "webhook.disabled",
];

pub fn postgres_available() -> bool {
    postgres::available()
}

/// A running service.
pub struct TestApp {
    pub address: SocketAddr,
    /// Where `GET /metrics` is served; `None` with WEBHOOK_METRICS_ADDR `off`.
    pub metrics_address: Option<SocketAddr>,
    /// Where the REST face listens, unless it is off.
    pub http_address: Option<SocketAddr>,
    /// An organization the default tokens speak for.
    pub organization: Uuid,
    pub database_url: String,
    /// The in-process event bus.
    pub publisher: Publisher,
    /// Deliveries handed over by publishing, not yet taken in by the workers.
    pub handoffs: HandoffsInTransit,
    /// What the delivery workers hold and do (see `support::activity`).
    pub activity: tokio::sync::watch::Receiver<Activity>,
    /// The identity provider's key set counters, with JWT_JWKS_URL.
    pub jwks_stats: Option<Arc<JwksStats>>,
    shutdown: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
}

/// The service's binary, inheriting no token settings from the environment,
/// serving metrics on a free port (not the default, which several could
/// want at once).
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-service"));
    command.env("WEBHOOK_METRICS_ADDR", "127.0.0.1:0");
    for var in [
        "JWT_SECRET",
        "JWT_PUBLIC_KEY_FILE",
        "JWT_JWKS_URL",
        "JWT_JWKS_REFRESH",
        "JWT_JWKS_CA_FILE",
        "JWT_ORG_CLAIM",
        "JWT_ROLE_CLAIM",
        "JWT_SCOPE_CLAIM",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "WEBHOOK_TLS_CERT_FILE",
        "WEBHOOK_TLS_KEY_FILE",
        "WEBHOOK_TLS_CLIENT_CA_FILE",
        "WEBHOOK_PORTAL_KEY",
        "WEBHOOK_PUBLIC_URL",
    ] {
        command.env_remove(var);
    }
    // Never the default port: tests run side by side.
    command.env("WEBHOOK_HTTP_ADDR", "127.0.0.1:0");
    command
}

/// The binary, serving on a free loopback port over SQLite in `dir`, logging
/// JSON lines to a pipe.
pub fn service_command(dir: &TempDir) -> std::process::Command {
    let mut command = binary();
    command
        .env("JWT_SECRET", JWT_SECRET)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/w.db", dir.path().display()),
        )
        .env("WEBHOOK_LISTEN_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    command
}

/// A service with default settings, private targets allowed off.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// A service whose settings `configure` adjusts first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("webhooks.db").display()),
        Backend::Postgres => postgres::fresh_database().expect("PostgreSQL is available"),
    };
    spawn(dir, database_url, configure).await
}

/// A service on the database at `database_url`.
pub async fn spawn_app_at(database_url: String, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(
        tempfile::tempdir().expect("temp dir"),
        database_url,
        configure,
    )
    .await
}

/// Why a service with these settings does not start (on SQLite), with its
/// causes; panics when it does start.
pub async fn start_failure(configure: impl FnOnce(&mut Settings)) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("webhooks.db").display());
    let mut settings = Settings::for_tests(&database_url, JWT_SECRET);
    configure(&mut settings);
    match Application::build(&settings).await {
        Ok(_) => panic!("the service started"),
        Err(err) => format!("{err:#}"),
    }
}

async fn spawn(
    dir: TempDir,
    database_url: String,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = Settings::for_tests(&database_url, JWT_SECRET);
    configure(&mut settings);
    let app = Application::build(&settings).await.expect("build the app");
    let jwks_stats = app.jwks_stats();
    let address = app.local_addr();
    let metrics_address = app.metrics_addr();
    let http_address = app.http_addr();
    let publisher = app.publisher();
    let handoffs = app.handoffs_in_transit();
    let activity = app.delivery_activity();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        metrics_address,
        http_address,
        organization: Uuid::new_v4(),
        database_url,
        publisher,
        handoffs,
        activity,
        jwks_stats,
        shutdown: Some(shutdown),
        running: Some(running),
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the service as SIGTERM would, and waits until it has stopped;
    /// panics when that takes longer than `limit`.
    pub async fn stop_within(mut self, limit: std::time::Duration) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let running = self.running.take().expect("running");
        let stopped = tokio::time::timeout(limit, running)
            .await
            .unwrap_or_else(|_| panic!("the service did not stop within {limit:?}"));
        stopped.expect("no panic").expect("stopped cleanly");
    }

    /// DeleteWebhook as an OWNER of this app's organization.
    pub async fn delete_webhook(&self, webhook_id: &str) -> Result<(), Status> {
        let request = webhook_service::grpc::proto::DeleteWebhookRequest {
            organization_id: self.organization.to_string(),
            webhook_id: webhook_id.to_owned(),
        };
        self.webhooks()
            .await
            .delete_webhook(authorized(request, &self.token("OWNER")))
            .await
            .map(|_| ())
    }

    /// The REST face's base URL (`http://127.0.0.1:PORT`); panics when it is off.
    pub fn http_url(&self) -> String {
        let address = self.http_address.expect("the REST face is on");
        format!("http://{address}")
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .expect("valid uri")
            .connect()
            .await
            .expect("connect to the test server")
    }

    pub async fn webhooks(&self) -> WebhookServiceClient<Channel> {
        WebhookServiceClient::new(self.channel().await)
    }

    pub async fn events(&self) -> EventServiceClient<Channel> {
        EventServiceClient::new(self.channel().await)
    }

    /// Publishes through the gRPC API with a service token holding the
    /// `events:publish` scope.
    pub async fn publish(
        &self,
        event_type: &str,
        data: serde_json::Value,
        idempotency_key: &str,
    ) -> Result<PublishEventResponse, Status> {
        let request = PublishEventRequest {
            organization_id: self.organization.to_string(),
            r#type: event_type.to_owned(),
            data: Some(to_struct(data)),
            idempotency_key: idempotency_key.to_owned(),
            ..Default::default()
        };
        self.events()
            .await
            .publish_event(authorized(request, &publisher_token()))
            .await
            .map(|r| r.into_inner())
    }

    /// Publishes `event_type` for `organization`, whatever this app's own.
    pub async fn publish_for(
        &self,
        organization: Uuid,
        event_type: &str,
    ) -> Result<PublishEventResponse, Status> {
        let request = PublishEventRequest {
            organization_id: organization.to_string(),
            r#type: event_type.to_owned(),
            data: Some(to_struct(json!({}))),
            ..Default::default()
        };
        self.events()
            .await
            .publish_event(authorized(request, &publisher_token()))
            .await
            .map(|r| r.into_inner())
    }

    /// Creates a webhook for `url` in `organization` as one of its OWNERs.
    pub async fn subscribe_for(
        &self,
        organization: Uuid,
        url: &str,
        events: &[&str],
    ) -> CreateWebhookResponse {
        let mut request = self.create_request(url, events);
        request.organization_id = organization.to_string();
        self.webhooks()
            .await
            .create_webhook(authorized(request, &self.token_for(organization, "OWNER")))
            .await
            .expect("create webhook")
            .into_inner()
    }

    /// Creates a webhook for `url` as an OWNER and returns it with its secret.
    pub async fn subscribe(&self, url: &str, events: &[&str]) -> CreateWebhookResponse {
        self.create_webhook(self.create_request(url, events))
            .await
            .expect("create webhook")
    }

    /// Rows of a raw SQL query against the app's database.
    pub async fn query(&self, sql: &str) -> Vec<sea_orm::QueryResult> {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&self.database_url)
            .await
            .unwrap();
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap();
        db.close().await.unwrap();
        rows
    }

    /// Runs a sea-query statement, built for the app's database dialect, and
    /// returns how many rows it touched.
    pub async fn execute<S: sea_orm::StatementBuilder>(&self, statement: &S) -> u64 {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&self.database_url)
            .await
            .unwrap();
        let affected = db.execute(statement).await.unwrap().rows_affected();
        db.close().await.unwrap();
        affected
    }

    /// Moves `table.column` of the row whose `id` is `id` to `age` ago.
    pub async fn backdate(&self, table: &str, column: &str, id: Uuid, age: std::time::Duration) {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let when = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap();
        let statement = Query::update()
            .table(Alias::new(table))
            .value(Alias::new(column), when)
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        assert_eq!(
            self.execute(&statement).await,
            1,
            "no {table} row with id {id}"
        );
    }

    /// How many rows of `table` have `column` equal to `id`.
    pub async fn count_rows(&self, table: &str, column: &str, id: Uuid) -> usize {
        use sea_orm::ConnectionTrait;
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let statement = Query::select()
            .column(Alias::new(column))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new(column)).eq(id))
            .to_owned();
        let db = sea_orm::Database::connect(&self.database_url)
            .await
            .unwrap();
        let rows = db.query_all(&statement).await.unwrap();
        db.close().await.unwrap();
        rows.len()
    }

    /// `(status, attempts)` of every delivery, in no particular order.
    /// Waits until every delivery a publish handed to this process's workers
    /// is theirs (sent or held for a slot); panics after `limit`.
    pub async fn wait_until_handed_in(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        while self.handoffs.get() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} handed deliveries never reached the workers",
                self.handoffs.get()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub async fn deliveries(&self) -> Vec<(String, i32)> {
        self.query("SELECT status, attempts FROM deliveries")
            .await
            .iter()
            .map(|r| {
                (
                    r.try_get("", "status").unwrap(),
                    r.try_get("", "attempts").unwrap(),
                )
            })
            .collect()
    }

    /// Waits until no delivery is pending; panics after `limit`.
    pub async fn wait_until_settled(&self, limit: std::time::Duration) -> Vec<(String, i32)> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let rows = self.deliveries().await;
            if rows.iter().all(|(status, _)| status != "pending") {
                return rows;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still pending: {rows:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Settings for delivering to `receiver` quickly: its CA trusted, loopback
/// allowed, a retry schedule in milliseconds.
pub fn deliver_to(receiver: &Receiver) -> impl FnOnce(&mut Settings) + '_ {
    move |settings| {
        settings.allow_private_targets = true;
        settings.ca_file = Some(receiver.ca_file.clone());
        settings.retry_schedule = "100ms,200ms,400ms".into();
        settings.timeout = std::time::Duration::from_secs(2);
    }
}
