//! Organizations share the delivery slots: one organization's backlog on
//! hanging endpoints never holds back another's deliveries, and a lone busy
//! organization still gets every slot.

use std::time::Duration;

use crate::on_every_backend;
use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::{Backend, TestApp, deliver_to, spawn_app_with};

on_every_backend!(
    a_quiet_organization_is_not_held_behind_another_s_hanging_backlog,
    a_lone_busy_organization_gets_every_slot,
    while_both_have_work_two_organizations_share_the_slots,
    a_steady_stream_of_another_organization_s_events_never_stalls_a_backlog,
);

const SLOTS: u32 = 8;
const WAIT: Duration = Duration::from_secs(10);

/// An app with `SLOTS` delivery slots whose organization has `endpoints`
/// webhooks at `/a{i}` that hold every request for a minute, and `events`
/// events published to them: it fills every slot and keeps a backlog.
async fn a_hanging_backlog(backend: Backend, receiver: &Receiver, endpoints: usize) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        deliver_to(receiver)(s);
        s.max_in_flight = SLOTS;
        s.timeout = Duration::from_secs(60);
    })
    .await;
    for i in 0..endpoints {
        let path = format!("/a{i}");
        receiver.script(
            &path,
            (0..40).map(|_| Reply::status(200).after(Duration::from_secs(60))),
        );
        app.subscribe(&receiver.url(&path), &["member.added"]).await;
    }
    for _ in 0..20 {
        app.publish("member.added", serde_json::json!({}), "")
            .await
            .unwrap();
    }
    app
}

fn held(receiver: &Receiver) -> Vec<Received> {
    receiver
        .all_received()
        .into_iter()
        .filter(|r| r.path.starts_with("/a"))
        .collect()
}

async fn a_quiet_organization_is_not_held_behind_another_s_hanging_backlog(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = a_hanging_backlog(backend, &receiver, 4).await;
    // 80 deliveries: every slot holds one, the rest wait in the store.
    let deadline = std::time::Instant::now() + WAIT;
    while held(&receiver).len() < SLOTS as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "the slots never filled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let quiet = uuid::Uuid::new_v4();
    app.subscribe_for(quiet, &receiver.url("/b"), &["member.added"])
        .await;
    for n in 1..=3 {
        app.publish_for(quiet, "member.added").await.unwrap();
        receiver.wait_for("/b", n, WAIT).await;
    }
    assert_eq!(
        held(&receiver).len(),
        SLOTS as usize,
        "the busy one got more"
    );
}

async fn a_lone_busy_organization_gets_every_slot(backend: Backend) {
    let receiver = Receiver::start().await;
    let _app = a_hanging_backlog(backend, &receiver, 2).await;
    let deadline = std::time::Instant::now() + WAIT;
    while held(&receiver).len() < SLOTS as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {SLOTS} slots used",
            held(&receiver).len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        held(&receiver).len(),
        SLOTS as usize,
        "more than every slot"
    );
}

async fn while_both_have_work_two_organizations_share_the_slots(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.max_in_flight = SLOTS;
        // Long: every wake-up the sharing needs must come on its own.
        s.poll_interval = Duration::from_secs(5);
    })
    .await;
    let slow = || Reply::status(200).after(Duration::from_millis(250));
    let late = uuid::Uuid::new_v4();
    for i in 0..4 {
        let (early_path, late_path) = (format!("/early{i}"), format!("/late{i}"));
        receiver.script(&early_path, (0..20).map(|_| slow()));
        receiver.script(&late_path, (0..10).map(|_| slow()));
        app.subscribe(&receiver.url(&early_path), &["member.added"])
            .await;
        app.subscribe_for(late, &receiver.url(&late_path), &["member.added"])
            .await;
    }
    // 80 deliveries first: first come, first served would send all of them
    // before any of the 40 published after.
    for _ in 0..20 {
        app.publish("member.added", serde_json::json!({}), "")
            .await
            .unwrap();
    }
    for _ in 0..10 {
        app.publish_for(late, "member.added").await.unwrap();
    }
    app.wait_until_settled(Duration::from_secs(60)).await;

    let last = |prefix: &str| {
        receiver
            .all_received()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .map(|r| r.at)
            .max()
            .unwrap()
    };
    let (early_done, late_done) = (last("/early"), last("/late"));
    assert!(
        late_done < early_done,
        "the later organization finished {:?} after the earlier one",
        late_done - early_done
    );
}

async fn a_steady_stream_of_another_organization_s_events_never_stalls_a_backlog(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = std::sync::Arc::new(
        spawn_app_with(backend, |s| {
            deliver_to(&receiver)(s);
            s.max_in_flight = SLOTS;
        })
        .await,
    );
    for i in 0..4 {
        let path = format!("/backlog{i}");
        receiver.always_reply(&path, Reply::status(200).after(Duration::from_millis(50)));
        app.subscribe(&receiver.url(&path), &["member.added"]).await;
    }
    let stream = uuid::Uuid::new_v4();
    app.subscribe_for(stream, &receiver.url("/stream"), &["member.added"])
        .await;
    // Every 20 ms, handed straight to the workers: the loop is never idle
    // for a whole poll interval.
    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let streamer = {
        let (app, streaming) = (app.clone(), streaming.clone());
        tokio::spawn(async move {
            while streaming.load(std::sync::atomic::Ordering::Relaxed) {
                app.publish_for(stream, "member.added").await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    for _ in 0..30 {
        app.publish("member.added", serde_json::json!({}), "")
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while held_in(&receiver, "/backlog") < 120 {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog stalled at {} of 120",
            held_in(&receiver, "/backlog")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    streaming.store(false, std::sync::atomic::Ordering::Relaxed);
    streamer.await.unwrap();
}

fn held_in(receiver: &Receiver, prefix: &str) -> usize {
    receiver
        .all_received()
        .iter()
        .filter(|r| r.path.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_keep_the_share_and_send_nothing_twice() {
    if !crate::support::postgres_available() {
        return;
    }
    let receiver = Receiver::start().await;
    let url = crate::support::postgres::fresh_database().unwrap();
    let configure = |s: &mut webhook_service::config::Settings| {
        deliver_to(&receiver)(s);
        s.max_in_flight = SLOTS;
        s.timeout = Duration::from_secs(60);
        s.poll_interval = Duration::from_millis(200);
    };
    let first = crate::support::spawn_app_at(url.clone(), configure).await;
    let mut second = crate::support::spawn_app_at(url, configure).await;
    second.organization = first.organization;
    for i in 0..4 {
        let path = format!("/a{i}");
        receiver.always_reply(&path, Reply::status(200).after(Duration::from_secs(60)));
        first
            .subscribe(&receiver.url(&path), &["member.added"])
            .await;
    }
    // Through both processes: each fills its slots, the rest waits.
    for n in 0..20 {
        let app = if n % 2 == 0 { &first } else { &second };
        app.publish("member.added", serde_json::json!({}), "")
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + WAIT;
    while held(&receiver).len() < 2 * SLOTS as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of both processes' slots filled",
            held(&receiver).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let quiet = uuid::Uuid::new_v4();
    first
        .subscribe_for(quiet, &receiver.url("/b"), &["member.added"])
        .await;
    for n in 1..=4 {
        let app = if n % 2 == 0 { &first } else { &second };
        app.publish_for(quiet, "member.added").await.unwrap();
        receiver.wait_for("/b", n, WAIT).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = held(&receiver);
    assert_eq!(sent.len(), 2 * SLOTS as usize, "more than every slot");
    let mut seen = std::collections::HashSet::new();
    for request in &sent {
        let key = (
            request.path.clone(),
            request.header("x-webhook-id").to_owned(),
        );
        assert!(seen.insert(key), "{} sent twice", request.path);
    }
}
