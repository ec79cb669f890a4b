//! Limits per webhook hold for the whole service, however many processes
//! share one PostgreSQL: a rate limit, and the cap on requests in flight to
//! one endpoint.

use std::time::Duration;

use serde_json::json;

use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::scrape::scrape;
use crate::support::{TestApp, deliver_to, postgres, postgres_available, spawn_app_at};
use webhook_service::config::Settings;

/// Often, so that the processes learn of each other quickly.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// Two services on one fresh PostgreSQL, configured alike, speaking for
/// the same organization.
async fn two_processes(configure: impl Fn(&mut Settings)) -> (TestApp, TestApp) {
    let url = postgres::fresh_database().unwrap();
    let first = spawn_app_at(url.clone(), &configure).await;
    let mut second = spawn_app_at(url, &configure).await;
    second.organization = first.organization;
    (first, second)
}

/// Publishes `events` events, every other one through each process, so
/// that both take deliveries at publishing as well as by claims.
async fn publish_through_both(first: &TestApp, second: &TestApp, events: usize) {
    for n in 0..events {
        let app = if n % 2 == 0 { first } else { second };
        app.publish("member.added", json!({ "n": n }), "")
            .await
            .unwrap();
    }
}

/// Asserts that both processes made attempts: the limits were shared, not
/// kept by one process that did all the work.
async fn both_delivered(first: &TestApp, second: &TestApp) {
    let mut attempts = Vec::new();
    for app in [first, second] {
        let metrics = scrape(app.metrics_address.expect("metrics are served")).await;
        attempts.push(metrics.sum("webhook_delivery_attempts_total", &[]));
    }
    assert!(
        attempts.iter().all(|n| *n > 0.0),
        "attempts per process: {attempts:?}"
    );
}

/// The most arrivals in any one-second window that starts at an arrival.
fn most_in_one_second(got: &[Received]) -> usize {
    let mut at: Vec<_> = got.iter().map(|r| r.at).collect();
    at.sort();
    (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t - at[i] < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_send_a_rate_limited_webhook_no_more_than_its_rate() {
    if !postgres_available() {
        return;
    }
    const RATE: u32 = 4;
    const EVENTS: usize = 14;
    let receiver = Receiver::start().await;
    // A small cap, so that neither process can hold every delivery.
    let (first, second) = two_processes(|s| {
        deliver_to(&receiver)(s);
        s.max_per_endpoint = 4;
        s.poll_interval = Duration::from_millis(200);
        s.heartbeat_interval = HEARTBEAT;
    })
    .await;
    let mut limited = first.create_request(&receiver.url("/limited"), &["member.added"]);
    limited.rate_limit_per_second = RATE;
    first.create_webhook(limited).await.unwrap();

    publish_through_both(&first, &second, EVENTS).await;
    let got = receiver
        .wait_for("/limited", EVENTS, Duration::from_secs(15))
        .await;

    // Evenly spaced turns put at most RATE in a second; one more may
    // touch its edge when the first of them went a little late.
    let most = most_in_one_second(&got);
    assert!(
        most <= RATE as usize + 1,
        "{most} deliveries within one second, limited to {RATE}"
    );
    let first_at = got.iter().map(|r| r.at).min().unwrap();
    let last_at = got.iter().map(|r| r.at).max().unwrap();
    let rate = (EVENTS - 1) as f64 / (last_at - first_at).as_secs_f64();
    assert!(
        (0.8 * RATE as f64..=1.1 * RATE as f64).contains(&rate),
        "{rate:.2} deliveries a second, limited to {RATE}"
    );
    let rows = first.wait_until_settled(Duration::from_secs(10)).await;
    assert!(
        rows.iter()
            .all(|(status, attempts)| status == "succeeded" && *attempts == 1),
        "{rows:?}"
    );
    assert_eq!(receiver.received("/limited").len(), EVENTS, "sent twice");
    both_delivered(&first, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_keep_to_one_cap_of_requests_in_flight_to_an_endpoint() {
    if !postgres_available() {
        return;
    }
    const CAP: usize = 2;
    const EVENTS: usize = 12;
    let receiver = Receiver::start().await;
    // Every request is held a while, so requests overlap whenever they can.
    receiver.always_reply(
        "/capped",
        Reply::status(200).after(Duration::from_millis(300)),
    );
    let (first, second) = two_processes(|s| {
        deliver_to(&receiver)(s);
        s.max_per_endpoint = CAP as u32;
        s.poll_interval = Duration::from_millis(200);
        s.heartbeat_interval = HEARTBEAT;
    })
    .await;
    first
        .subscribe(&receiver.url("/capped"), &["member.added"])
        .await;

    publish_through_both(&first, &second, EVENTS).await;
    receiver
        .wait_for("/capped", EVENTS, Duration::from_secs(15))
        .await;
    let rows = first.wait_until_settled(Duration::from_secs(10)).await;
    assert!(
        rows.iter()
            .all(|(status, attempts)| status == "succeeded" && *attempts == 1),
        "{rows:?}"
    );
    let peak = receiver.peak_in_flight("/capped");
    assert!(
        peak <= CAP,
        "{peak} requests in flight to one endpoint at once, capped at {CAP}"
    );
    assert_eq!(peak, CAP, "the cap was never used in full");
    both_delivered(&first, &second).await;
}

/// Turns far ahead are not taken: a delivery waits for its turn only as
/// long as its lease lets it, or another process could claim it meanwhile
/// and send it too. Those without a turn in reach go back and come again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_wait_for_their_turn_no_longer_than_their_lease_allows() {
    if !postgres_available() {
        return;
    }
    const RATE: u32 = 2;
    const EVENTS: usize = 8;
    let receiver = Receiver::start().await;
    // A turn at most 0.9s ahead is in reach: two of the eight at a time.
    let (first, second) = two_processes(|s| {
        deliver_to(&receiver)(s);
        s.timeout = Duration::from_secs(1);
        s.lease = Some(Duration::from_secs(2));
        s.poll_interval = Duration::from_millis(200);
        s.heartbeat_interval = HEARTBEAT;
    })
    .await;
    let mut limited = first.create_request(&receiver.url("/limited"), &["member.added"]);
    limited.rate_limit_per_second = RATE;
    first.create_webhook(limited).await.unwrap();

    publish_through_both(&first, &second, EVENTS).await;
    let got = receiver
        .wait_for("/limited", EVENTS, Duration::from_secs(15))
        .await;
    let rows = first.wait_until_settled(Duration::from_secs(10)).await;
    assert!(
        rows.iter()
            .all(|(status, attempts)| status == "succeeded" && *attempts == 1),
        "{rows:?}"
    );
    let mut events: Vec<_> = got.iter().map(|r| r.header("webhook-id")).collect();
    events.sort();
    events.dedup();
    assert_eq!(events.len(), EVENTS, "an event was sent twice");
    assert_eq!(receiver.received("/limited").len(), EVENTS);
    let most = most_in_one_second(&got);
    assert!(
        most <= RATE as usize + 1,
        "{most} deliveries within one second, limited to {RATE}"
    );
}

/// Live processes, as their rows in the database say.
async fn live_processes(app: &TestApp) -> i64 {
    app.query("SELECT count(*) AS n FROM delivery_processes WHERE expires_at > now()")
        .await[0]
        .try_get("", "n")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_dies_is_counted_out_within_five_heartbeats_and_leaves_its_share() {
    if !postgres_available() {
        return;
    }
    const CAP: usize = 2;
    let receiver = std::sync::Arc::new(Receiver::start().await);
    receiver.always_reply(
        "/capped",
        Reply::status(200).after(Duration::from_millis(300)),
    );
    let url = postgres::fresh_database().unwrap();
    let configure = {
        let receiver = receiver.clone();
        move |s: &mut Settings| {
            deliver_to(&receiver)(s);
            s.max_per_endpoint = CAP as u32;
            s.poll_interval = Duration::from_millis(200);
            s.heartbeat_interval = HEARTBEAT;
        }
    };
    let survivor = spawn_app_at(url.clone(), configure.clone()).await;

    // The other one runs on a runtime of its own, dropped to kill it: no
    // shutdown, so it never says it leaves.
    let doomed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let app = runtime.block_on(async {
            let app = spawn_app_at(url, configure).await;
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while live_processes(&app).await < 2 {
                assert!(std::time::Instant::now() < deadline, "never joined");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            app
        });
        drop(runtime);
        drop(app);
    });
    doomed.join().unwrap();
    let died = std::time::Instant::now();

    let deadline = died + Duration::from_secs(10);
    while live_processes(&survivor).await > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the dead one lives on"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its last beat was before it died; the rest is the looking.
    let counted_out = died.elapsed();
    assert!(
        counted_out <= HEARTBEAT * 5 + Duration::from_millis(500),
        "counted out after {counted_out:?}"
    );

    survivor
        .subscribe(&receiver.url("/capped"), &["member.added"])
        .await;
    for n in 0..6 {
        survivor
            .publish("member.added", json!({ "n": n }), "")
            .await
            .unwrap();
    }
    receiver
        .wait_for("/capped", 6, Duration::from_secs(10))
        .await;
    assert_eq!(
        receiver.peak_in_flight("/capped"),
        CAP,
        "the survivor took the dead one's share"
    );
    survivor.wait_until_settled(Duration::from_secs(10)).await;
}
