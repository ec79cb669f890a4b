//! Failed attempts are retried on the schedule, and recorded.

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, deliver_to, spawn_app_with};

on_every_backend!(
    fail_fail_succeed_makes_three_attempts_spaced_by_the_schedule,
    an_endpoint_that_always_fails_gets_four_attempts_then_the_delivery_fails,
    retry_after_postpones_the_next_attempt,
    failures_recorded_together_keep_each_its_own_next_attempt,
    a_redirect_is_a_failure_and_is_not_followed,
    a_hanging_endpoint_times_out_without_holding_up_a_healthy_one,
    each_attempt_is_recorded_with_its_answer,
);

const WAIT: Duration = Duration::from_secs(15);

fn attempt_numbers(got: &[crate::support::receiver::Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.header("x-webhook-attempt").to_owned())
        .collect()
}

async fn fail_fail_succeed_makes_three_attempts_spaced_by_the_schedule(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "300ms,600ms,5s".into();
    })
    .await;
    receiver.script("/flaky", [Reply::status(500), Reply::status(502)]);
    app.subscribe(&receiver.url("/flaky"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();

    let got = receiver.wait_for("/flaky", 3, WAIT).await;
    assert_eq!(attempt_numbers(&got), ["1", "2", "3"]);
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.header("x-webhook-id").to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "the event id changes: {ids:?}"
    );
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the body changes"
    );
    let first_gap = got[1].at - got[0].at;
    let second_gap = got[2].at - got[1].at;
    assert!(first_gap >= Duration::from_millis(300), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(600), "{second_gap:?}");
    assert!(second_gap > first_gap);
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("succeeded".to_owned(), 3)]
    );
}

async fn an_endpoint_that_always_fails_gets_four_attempts_then_the_delivery_fails(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.script("/down", (0..10).map(|_| Reply::status(503)));
    app.subscribe(&receiver.url("/down"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();

    let got = receiver.wait_for("/down", 4, WAIT).await;
    assert_eq!(attempt_numbers(&got), ["1", "2", "3", "4"]);
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("failed".to_owned(), 4)]
    );
    // Longer than the whole schedule: nothing more comes.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.received("/down").len(), 4);
}

async fn retry_after_postpones_the_next_attempt(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.script("/busy", [Reply::status(429).header("retry-after", "2")]);
    app.subscribe(&receiver.url("/busy"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();

    let got = receiver.wait_for("/busy", 2, WAIT).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "Retry-After ignored: {gap:?}"
    );
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("succeeded".to_owned(), 2)]
    );
}

/// Failed attempts that end alike (same attempt, status and error) are
/// written in one statement: each still keeps its own next attempt.
async fn failures_recorded_together_keep_each_its_own_next_attempt(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.script("/soon", [Reply::status(429).header("retry-after", "1")]);
    receiver.script("/later", [Reply::status(429).header("retry-after", "4")]);
    for path in ["/soon", "/later"] {
        app.subscribe(&receiver.url(path), &["member.added"]).await;
    }
    app.publish("member.added", json!({}), "").await.unwrap();

    let gap = |path: &str, got: &[crate::support::receiver::Received]| {
        assert_eq!(got.len(), 2, "{path}");
        got[1].at - got[0].at
    };
    let soon = gap("/soon", &receiver.wait_for("/soon", 2, WAIT).await);
    let later = gap("/later", &receiver.wait_for("/later", 2, WAIT).await);
    assert!(
        soon >= Duration::from_secs(1) && soon < Duration::from_secs(4),
        "/soon retried after {soon:?}"
    );
    assert!(
        later >= Duration::from_secs(4),
        "/later retried after {later:?}"
    );
    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("succeeded".to_owned(), 2), ("succeeded".to_owned(), 2)]
    );
}

async fn a_redirect_is_a_failure_and_is_not_followed(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    let elsewhere = receiver.url("/elsewhere");
    receiver.script(
        "/moved",
        (0..4).map(|_| Reply::status(302).header("location", elsewhere.clone())),
    );
    app.subscribe(&receiver.url("/moved"), &["member.added"])
        .await;
    app.publish("member.added", json!({}), "").await.unwrap();

    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("failed".to_owned(), 4)]
    );
    assert_eq!(receiver.received("/moved").len(), 4);
    assert!(receiver.received("/elsewhere").is_empty());
}

async fn a_hanging_endpoint_times_out_without_holding_up_a_healthy_one(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.timeout = Duration::from_secs(1);
        s.retry_schedule = String::new();
        s.max_per_endpoint = 2;
    })
    .await;
    receiver.script(
        "/hang",
        (0..5).map(|_| Reply::status(200).after(Duration::from_secs(30))),
    );
    app.subscribe(&receiver.url("/hang"), &["member.added"])
        .await;
    app.subscribe(&receiver.url("/healthy"), &["member.added"])
        .await;
    for _ in 0..5 {
        app.publish("member.added", json!({}), "").await.unwrap();
    }
    let started = std::time::Instant::now();
    receiver.wait_for("/healthy", 5, WAIT).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    app.wait_until_settled(WAIT).await;
    let kinds = app
        .query("SELECT error_kind FROM delivery_attempts WHERE error_kind IS NOT NULL")
        .await;
    assert_eq!(kinds.len(), 5);
    for row in kinds {
        assert_eq!(row.try_get::<String>("", "error_kind").unwrap(), "timeout");
    }
}

async fn each_attempt_is_recorded_with_its_answer(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, deliver_to(&receiver)).await;
    receiver.script("/rec", [Reply::status(500)]);
    app.subscribe(&receiver.url("/rec"), &["member.added"])
        .await;
    let event = app
        .publish("member.added", json!({}), "")
        .await
        .unwrap()
        .event_id;
    app.wait_until_settled(WAIT).await;

    let rows = app
        .query(
            "SELECT a.attempt, a.status_code, a.error_kind, a.response_excerpt, a.duration_ms \
             FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id \
             JOIN events e ON e.id = d.event_id ORDER BY a.attempt",
        )
        .await;
    assert_eq!(rows.len(), 2, "event {event}");
    let code = |i: usize| rows[i].try_get::<Option<i32>>("", "status_code").unwrap();
    let excerpt = |i: usize| {
        rows[i]
            .try_get::<Option<String>>("", "response_excerpt")
            .unwrap()
    };
    assert_eq!((code(0), code(1)), (Some(500), Some(200)));
    assert_eq!(excerpt(0).as_deref(), Some("answer 500"));
    assert_eq!(
        rows[0]
            .try_get::<Option<String>>("", "error_kind")
            .unwrap()
            .as_deref(),
        Some("http_status")
    );
    assert_eq!(
        rows[1].try_get::<Option<String>>("", "error_kind").unwrap(),
        None
    );
}
