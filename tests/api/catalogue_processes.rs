//! Two processes on one PostgreSQL: a change of the catalogue made through
//! one holds in the other soon after, though the other compiled and
//! cached the type before (it hears of the change by NOTIFY).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::support::catalogue::{invoice_schema, violated_fields};
use crate::support::process::ServiceProcess;
use crate::support::{
    TestApp, assert_field_violation, authorized, postgres, postgres_available, publisher_token,
    spawn_app_at, to_struct,
};
use webhook_service::grpc::proto::PublishEventRequest;
use webhook_service::grpc::proto::event_service_client::EventServiceClient;

/// How long the other process may take to hear of a change. The
/// listener's NOTIFY arrives within milliseconds; this bounds a slow CI.
const HEARD_WITHIN: Duration = Duration::from_secs(5);

/// The real binary, publishing through its own connection.
struct Other {
    _process: ServiceProcess,
    events: EventServiceClient<Channel>,
}

impl Other {
    async fn start(database_url: &str) -> Self {
        let process = ServiceProcess::start(database_url, &[]).await;
        let channel = Channel::from_shared(format!("http://{}", process.address))
            .unwrap()
            .connect_lazy();
        Self {
            _process: process,
            events: EventServiceClient::new(channel),
        }
    }

    async fn publish(&self, app: &TestApp, data: &Value) -> Result<(), tonic::Status> {
        let request = PublishEventRequest {
            organization_id: app.organization.to_string(),
            r#type: "invoice.paid".into(),
            data: Some(to_struct(data.clone())),
            ..Default::default()
        };
        self.events
            .clone()
            .publish_event(authorized(request, &publisher_token()))
            .await
            .map(|_| ())
    }

    /// Publishes `data` until `done` holds for the outcome; returns how long
    /// that took and how many publishes went the old way meanwhile.
    async fn until(
        &self,
        app: &TestApp,
        data: &Value,
        done: impl Fn(&Result<(), tonic::Status>) -> bool,
    ) -> (Duration, usize, Result<(), tonic::Status>) {
        let start = Instant::now();
        let mut stale = 0;
        loop {
            let outcome = self.publish(app, data).await;
            if done(&outcome) {
                return (start.elapsed(), stale, outcome);
            }
            stale += 1;
            assert!(
                start.elapsed() < HEARD_WITHIN,
                "still the old rule after {HEARD_WITHIN:?} ({stale} publishes): {outcome:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Waits until two connections to the database listen for catalogue
/// changes: one in each process.
async fn both_listen(app: &TestApp) {
    let sql = "SELECT count(*) AS n FROM pg_stat_activity \
               WHERE datname = current_database() AND query LIKE 'LISTEN %event_type_changed%'";
    let deadline = Instant::now() + HEARD_WITHIN;
    loop {
        let listening: i64 = app.query(sql).await[0].try_get("", "n").unwrap();
        if listening == 2 {
            return;
        }
        assert!(Instant::now() < deadline, "{listening} processes listen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_changed_through_one_process_holds_in_another_that_had_cached_it() {
    if !postgres_available() {
        return;
    }
    let url = postgres::fresh_database().unwrap();
    let first = spawn_app_at(url.clone(), |_| {}).await;
    first.create_invoice_paid().await;
    let other = Other::start(&url).await;
    // Until it listens, the other process caches nothing and reads every
    // type afresh: what it does after is what is tested.
    both_listen(&first).await;
    let small = json!({"amount": 5, "currency": "EUR"});
    // The other process compiles and caches the schema as it is.
    other.publish(&first, &small).await.unwrap();

    let mut stricter = invoice_schema();
    stricter["properties"]["amount"]["minimum"] = json!(100);
    first.set_schema("invoice.paid", Some(stricter)).await;
    let (took, stale, refused) = other.until(&first, &small, Result::is_err).await;
    eprintln!("the other process refused by the new schema after {took:?} ({stale} stale)");
    assert_eq!(violated_fields(&refused.unwrap_err()), ["data/amount"]);

    first.set_schema("invoice.paid", None).await;
    let anything = json!({"anything": true});
    let (took, stale, _) = other.until(&first, &anything, Result::is_ok).await;
    eprintln!("the other process accepted without a schema after {took:?} ({stale} stale)");

    first.archive_event_type("invoice.paid").await;
    let (took, stale, refused) = other.until(&first, &anything, Result::is_err).await;
    eprintln!("the other process refused the archived type after {took:?} ({stale} stale)");
    let reason = assert_field_violation(&refused.unwrap_err(), "type");
    assert!(reason.contains("archived"), "{reason}");
}
