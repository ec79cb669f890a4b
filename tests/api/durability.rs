//! Nothing is lost when the service dies mid-delivery, and several processes
//! on one PostgreSQL never send one attempt twice.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use webhook_service::domain::NewEvent;

use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, postgres, postgres_available, spawn_app_at};

const EVENTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_crash_mid_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    a_crash_mid_delivery_loses_nothing(Backend::Sqlite, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_crash_mid_delivery_loses_nothing() {
    if postgres_available() {
        let url = postgres::fresh_database().unwrap();
        a_crash_mid_delivery_loses_nothing(Backend::Postgres, url).await;
    }
}

async fn a_crash_mid_delivery_loses_nothing(backend: Backend, url: String) {
    let receiver = std::sync::Arc::new(Receiver::start().await);
    // Every first attempt hangs, so all are in flight when the service dies.
    receiver.script(
        "/crash",
        (0..EVENTS).map(|_| Reply::status(200).after(Duration::from_secs(120))),
    );
    let configure = {
        let receiver = receiver.clone();
        move |s: &mut webhook_service::config::Settings| {
            deliver_to(&receiver)(s);
            s.timeout = Duration::from_secs(3);
            s.lease = Some(Duration::from_secs(4));
            // All in flight at once, none timed out before the crash.
            s.max_per_endpoint = EVENTS as u32;
        }
    };

    // The first life runs on its own runtime, dropped mid-flight: no
    // shutdown, no outcome written, like a killed process.
    let (first_url, first_receiver, first_configure) =
        (url.clone(), receiver.clone(), configure.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let app = runtime.block_on(async {
            let app = spawn_app_at(first_url, first_configure).await;
            app.subscribe(&first_receiver.url("/crash"), &["member.added"])
                .await;
            for i in 0..EVENTS {
                app.publish("member.added", json!({"n": i}), "")
                    .await
                    .unwrap();
            }
            first_receiver
                .wait_for("/crash", EVENTS, Duration::from_secs(20))
                .await;
            app
        });
        drop(runtime);
        drop(app);
    })
    .join()
    .unwrap();

    let before: Vec<_> = receiver.received("/crash");
    assert_eq!(before.len(), EVENTS, "all were in flight at the crash");

    let second = spawn_app_at(url, configure).await;
    let rows = second.wait_until_settled(Duration::from_secs(30)).await;
    assert_eq!(rows.len(), EVENTS, "{backend:?}");
    assert!(
        rows.iter().all(|(status, _)| status == "succeeded"),
        "{rows:?}"
    );

    let mut seen: HashMap<String, usize> = HashMap::new();
    for request in receiver.received("/crash") {
        *seen
            .entry(request.header("x-webhook-id").to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), EVENTS, "every event arrived");
    assert!(
        seen.values().all(|n| *n >= 2),
        "each was resent after the crash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_send_each_delivery_once() {
    if !postgres_available() {
        return;
    }
    const TOTAL: usize = 1000;
    let receiver = Receiver::start().await;
    let url = postgres::fresh_database().unwrap();
    let a = spawn_app_at(url.clone(), deliver_to(&receiver)).await;
    let b = spawn_app_at(url, deliver_to(&receiver)).await;
    a.subscribe(&receiver.url("/shared"), &["member.added"])
        .await;

    // Publish through both processes' buses at once, so both claim.
    let publish = |app: &crate::support::TestApp, half: usize| {
        let publisher = app.publisher.clone();
        let org = a.organization.to_string();
        async move {
            for i in 0..TOTAL / 2 {
                let event = NewEvent::parse(
                    &org,
                    "member.added",
                    json!({"n": half * TOTAL + i}),
                    String::new(),
                    Default::default(),
                    String::new(),
                )
                .unwrap();
                publisher.publish(event).await.unwrap();
            }
        }
    };
    tokio::join!(publish(&a, 0), publish(&b, 1));

    receiver
        .wait_for("/shared", TOTAL, Duration::from_secs(60))
        .await;
    a.wait_until_settled(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.received("/shared");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for request in &got {
        *seen
            .entry(request.header("x-webhook-id").to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} events sent more than once, such as {:?}",
        twice.len(),
        twice.first()
    );
    assert_eq!(seen.len(), TOTAL);
    assert_eq!(got.len(), TOTAL);
}

/// An event whose PublishEvent answered OK is in the database even when
/// PostgreSQL crashes just after (an immediate stop: what was only in its
/// shared memory is gone). The claims, the results and the heartbeats
/// commit asynchronously, on a pool of their own (issue 26); the publish
/// must not. The WAL writer waits 10 s between writes here, so an
/// asynchronous commit would still be in memory at the crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_accepted_before_a_database_crash_are_kept() {
    if !postgres_available() {
        return;
    }
    let cluster = postgres::Cluster::start_with(false, &[("wal_writer_delay", "10s")])
        .expect("a cluster of this test's own");
    let url = cluster.create_database();
    let receiver = Receiver::start().await;
    receiver.script(
        "/slow",
        (0..EVENTS).map(|_| Reply::status(200).after(Duration::from_secs(120))),
    );
    let app = spawn_app_at(url, deliver_to(&receiver)).await;
    app.subscribe(&receiver.url("/slow"), &["member.added"])
        .await;
    for i in 0..EVENTS {
        app.publish("member.added", json!({"n": i}), "")
            .await
            .expect("accepted");
    }

    cluster.crash_and_recover();

    let count = |sql: &'static str| {
        let app = &app;
        async move {
            let rows = app.query(sql).await;
            rows[0].try_get::<i64>("", "n").unwrap() as usize
        }
    };
    // Only the test's own: creating the webhook published one of its own.
    let events = "SELECT count(*) AS n FROM events WHERE event_type = 'member.added'";
    let deliveries = "SELECT count(*) AS n FROM deliveries WHERE event_type = 'member.added'";
    assert_eq!(count(events).await, EVENTS);
    assert_eq!(count(deliveries).await, EVENTS);
}
