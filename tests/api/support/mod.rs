//! Starts the real service on a random loopback port over a real database and
//! hands tests a real gRPC client.

pub mod postgres;
pub mod receiver;

use std::net::SocketAddr;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use webhook_service::config::Settings;
use webhook_service::grpc::proto::event_service_client::EventServiceClient;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{
    CreateWebhookRequest, CreateWebhookResponse, PublishEventRequest, PublishEventResponse,
};
use webhook_service::service::Publisher;
use webhook_service::startup::Application;

use self::receiver::Receiver;

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
pub fn postgres_available() -> bool {
    postgres::available()
}

/// A running service.
pub struct TestApp {
    pub address: SocketAddr,
    /// An organization the default tokens speak for.
    pub organization: Uuid,
    pub database_url: String,
    /// The in-process event bus.
    pub publisher: Publisher,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
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

async fn spawn(
    dir: TempDir,
    database_url: String,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = Settings::for_tests(&database_url, JWT_SECRET);
    configure(&mut settings);
    let app = Application::build(&settings).await.expect("build the app");
    let address = app.local_addr();
    let publisher = app.publisher();
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        organization: Uuid::new_v4(),
        database_url,
        publisher,
        shutdown: Some(shutdown),
        _dir: dir,
    }
}

impl TestApp {
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
        };
        self.events()
            .await
            .publish_event(authorized(request, &publisher_token()))
            .await
            .map(|r| r.into_inner())
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

    /// `(status, attempts)` of every delivery, in no particular order.
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

    /// A valid token for this app's organization.
    pub fn token(&self, role: &str) -> String {
        self.token_for(self.organization, role)
    }

    /// A valid token for `organization`.
    pub fn token_for(&self, organization: Uuid, role: &str) -> String {
        hs256(&claims(organization, role))
    }

    /// A request to create a webhook in this app's organization.
    pub fn create_request(&self, url: &str, events: &[&str]) -> CreateWebhookRequest {
        CreateWebhookRequest {
            organization_id: self.organization.to_string(),
            url: url.to_owned(),
            events: events.iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Creates a webhook as an OWNER, or returns the status it failed with.
    pub async fn create_webhook(
        &self,
        request: CreateWebhookRequest,
    ) -> Result<CreateWebhookResponse, Status> {
        self.webhooks()
            .await
            .create_webhook(authorized(request, &self.token("OWNER")))
            .await
            .map(|r| r.into_inner())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Claims of a valid token, valid for an hour.
pub fn claims(organization: Uuid, role: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "sub": "user-42",
        "org_id": organization.to_string(),
        "role": role,
        "iat": now,
        "exp": now + 3600,
    })
}

/// Signs `claims` with the test servers' HS256 secret.
pub fn hs256(claims: &Value) -> String {
    sign(
        claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
}

pub fn sign(claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("sign test token")
}

/// `message` with `authorization: Bearer <token>` metadata.
pub fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// Asserts an INVALID_ARGUMENT whose BadRequest names `field`, and returns
/// that violation's description.
pub fn assert_field_violation(status: &Status, field: &str) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest detail in {status:?}"));
    bad_request
        .field_violations
        .iter()
        .find(|v| v.field == field)
        .unwrap_or_else(|| panic!("no violation for {field} in {bad_request:?}"))
        .description
        .clone()
}

/// A service token: no organization, the `events:publish` scope.
pub fn publisher_token() -> String {
    let now = jsonwebtoken::get_current_timestamp();
    hs256(&json!({
        "sub": "billing-service",
        "scope": "events:publish",
        "iat": now,
        "exp": now + 3600,
    }))
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

pub fn to_struct(value: Value) -> prost_types::Struct {
    let Value::Object(map) = value else {
        panic!("data must be a JSON object");
    };
    prost_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

fn to_value(value: Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(to_value).collect(),
        }),
        object @ Value::Object(_) => Kind::StructValue(to_struct(object)),
    };
    prost_types::Value { kind: Some(kind) }
}
