//! Starts the real service on a random loopback port over a real database and
//! hands tests a real gRPC client.

pub mod postgres;

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
use webhook_service::grpc::proto::CreateWebhookRequest;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::startup::Application;

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
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        organization: Uuid::new_v4(),
        database_url,
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
    ) -> Result<webhook_service::grpc::proto::CreateWebhookResponse, Status> {
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
