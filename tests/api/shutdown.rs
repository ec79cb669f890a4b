//! SIGTERM, on the real binary: health turns NOT_SERVING at once, the
//! process exits 0 within its grace, and every event it accepted is
//! delivered, if need be by the next process on the same database.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tonic_health::pb::health_check_response::ServingStatus;
use uuid::Uuid;

use crate::on_every_backend;
use crate::support::Backend;
use crate::support::health::{next, watch};
use crate::support::process::ServiceProcess;
use crate::support::receiver::{Receiver, Reply};

on_every_backend!(
    sigterm_under_load_exits_zero_within_the_grace_and_loses_no_accepted_event,
    a_grace_that_runs_out_still_exits_zero_and_the_next_run_delivers_what_was_held,
);

/// A database of the test's own that outlives one process.
fn database(backend: Backend, dir: &TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("webhooks.db").display()),
        Backend::Postgres => {
            crate::support::postgres::fresh_database().expect("PostgreSQL is available")
        }
    }
}

/// Delivers to `receiver`, with leases short enough that a delivery the
/// previous process held is claimed again within seconds on PostgreSQL.
fn settings<'a>(receiver: &'a Receiver, grace: &'a str) -> Vec<(&'a str, &'a str)> {
    let ca_file = receiver.ca_file.to_str().unwrap();
    vec![
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ("WEBHOOK_CA_FILE", ca_file),
        ("WEBHOOK_RETRY_SCHEDULE", "100ms,200ms,400ms"),
        ("WEBHOOK_TIMEOUT", "5s"),
        ("WEBHOOK_LEASE", "6s"),
        ("WEBHOOK_SHUTDOWN_GRACE", grace),
    ]
}

/// Waits until `receiver` got each of `events` at least `times` times at
/// `path`; panics after `limit`.
async fn wait_for_each(
    receiver: &Receiver,
    path: &str,
    events: &HashSet<String>,
    times: usize,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    loop {
        let received = receiver.received(path);
        let short: Vec<_> = events
            .iter()
            .filter(|id| {
                received
                    .iter()
                    .filter(|r| r.header("webhook-id") == id.as_str())
                    .count()
                    < times
            })
            .collect();
        if short.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted events not delivered {times} times, such as {:?}",
            short.len(),
            events.len(),
            short[0]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sigterm_under_load_exits_zero_within_the_grace_and_loses_no_accepted_event(
    backend: Backend,
) {
    const PUBLISHERS: usize = 4;
    const BEFORE_SIGTERM: usize = 40;
    let grace = Duration::from_secs(10);
    let receiver = Receiver::start().await;
    // A slow endpoint: attempts are in flight when the signal comes.
    receiver.always_reply(
        "/load",
        Reply::status(200).after(Duration::from_millis(200)),
    );
    let dir = tempfile::tempdir().unwrap();
    let url = database(backend, &dir);
    let settings = settings(&receiver, "10s");
    let mut service = ServiceProcess::start(&url, &settings).await;
    let organization = Uuid::new_v4();
    service
        .subscribe(organization, &receiver.url("/load"))
        .await;
    let mut health = watch(service.address, "").await;
    assert_eq!(
        next(&mut health, Duration::from_secs(5)).await,
        Some(ServingStatus::Serving)
    );

    let accepted = Mutex::new(HashSet::new());
    let publish = |first: usize| {
        let (service, accepted) = (&service, &accepted);
        async move {
            // Until the service stops taking calls.
            for n in (first..).step_by(PUBLISHERS) {
                match service.publish(organization, n).await {
                    Ok(id) => accepted.lock().unwrap().insert(id),
                    Err(_) => return,
                };
            }
        }
    };
    let terminate = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while accepted.lock().unwrap().len() < BEFORE_SIGTERM {
            assert!(Instant::now() < deadline, "publishing is too slow");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        service.terminate();
        let terminated = Instant::now();
        assert_eq!(
            next(&mut health, Duration::from_secs(1)).await,
            Some(ServingStatus::NotServing),
            "health turns at once"
        );
        assert_eq!(next(&mut health, grace).await, None, "and its stream ends");
        terminated
    };
    let (terminated, ..) = tokio::join!(terminate, publish(0), publish(1), publish(2), publish(3));
    let status = service.exit_within(grace).await;
    assert!(status.success(), "{status:?}:\n{}", service.log());
    assert!(terminated.elapsed() < grace);
    drop(service);

    let accepted = accepted.into_inner().unwrap();
    let _next = ServiceProcess::start(&url, &settings).await;
    wait_for_each(&receiver, "/load", &accepted, 1, Duration::from_secs(30)).await;
}

async fn a_grace_that_runs_out_still_exits_zero_and_the_next_run_delivers_what_was_held(
    backend: Backend,
) {
    const EVENTS: usize = 5;
    let grace = Duration::from_secs(1);
    let receiver = Receiver::start().await;
    // Every first attempt is held far past the grace (and the timeout).
    receiver.script(
        "/held",
        (0..EVENTS).map(|_| Reply::status(200).after(Duration::from_secs(60))),
    );
    let dir = tempfile::tempdir().unwrap();
    let url = database(backend, &dir);
    let settings = settings(&receiver, "1s");
    let mut service = ServiceProcess::start(&url, &settings).await;
    let organization = Uuid::new_v4();
    service
        .subscribe(organization, &receiver.url("/held"))
        .await;
    let mut accepted = HashSet::new();
    for n in 0..EVENTS {
        accepted.insert(service.publish(organization, n).await.expect("publish"));
    }
    receiver
        .wait_for("/held", EVENTS, Duration::from_secs(10))
        .await;

    service.terminate();
    let terminated = Instant::now();
    let status = service
        .exit_within(grace + Duration::from_millis(1500))
        .await;
    let log = service.log();
    assert!(status.success(), "{status:?}:\n{log}");
    assert!(
        log.contains("abandoning unfinished attempts"),
        "the grace ran out: {log}"
    );
    assert!(
        terminated.elapsed() >= grace,
        "the attempts had their grace"
    );
    drop(service);

    let _next = ServiceProcess::start(&url, &settings).await;
    wait_for_each(&receiver, "/held", &accepted, 2, Duration::from_secs(30)).await;
}
