//! Ordered delivery across processes (issue 23 item 3), on PostgreSQL: two
//! services on one database, one of them the real binary, killed with
//! SIGKILL while it holds the head of a sequence in flight. Each key's
//! events still reach the endpoint one at a time and in publish order, each
//! answered 2xx once, and the head the dead process held goes out from the
//! survivor once its lease has run out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::ordering::{ordered_webhook, publish_keyed};
use crate::support::process::ServiceProcess;
use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::{TestApp, deliver_to, postgres, postgres_available, spawn_app_at, to_struct};
use webhook_service::grpc::proto::PublishEventRequest;

const KEYS: usize = 8;
const EVENTS_PER_KEY: usize = 6;
const PATH: &str = "/ordered";
/// How long the endpoint holds every request: long enough that each key's
/// events queue behind their head, and that the kill finds requests open.
const HOLD: Duration = Duration::from_millis(400);
/// Attempts time out well after `HOLD` plus the freeze around the kill
/// (during which the receiver answers no one): an attempt that timed out
/// on an answer the receiver gave is rightly sent again, and would look
/// like an event answered twice. Leases outlast an attempt and its
/// recording on a loaded machine, yet free the dead process's heads within
/// seconds. Polls and heartbeats come often, so that the processes see
/// each other's work and the death.
const TIMEOUT: Duration = Duration::from_secs(3);
const LEASE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);
const HEARTBEAT: Duration = Duration::from_millis(100);
const RETRIES: &str = "100ms,200ms,400ms";
const WAIT: Duration = Duration::from_secs(30);

/// What the kill cut off.
struct Kill {
    at: Instant,
    /// The same moment on the wall clock, to compare with leases.
    at_utc: DateTime<Utc>,
    /// The binary's requests open at the receiver when it died.
    cut: Vec<Received>,
    /// Their deliveries' leases: until when the dead process held them.
    leases: HashMap<String, DateTime<Utc>>,
    /// The binary's connections to the receiver, by local port.
    ports: HashSet<u16>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_sequence_leaves_every_key_in_order_and_nothing_answered_twice() {
    if !postgres_available() {
        return;
    }
    let receiver = Receiver::start().await;
    receiver.always_reply(PATH, Reply::status(200).after(HOLD));
    receiver.in_flight_by(PATH, "/data/key");
    let url = postgres::fresh_database().unwrap();
    let ca_file = receiver.ca_file.to_str().unwrap().to_owned();
    let mut doomed = ServiceProcess::start(
        &url,
        &[
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("WEBHOOK_CA_FILE", &ca_file),
            ("WEBHOOK_RETRY_SCHEDULE", RETRIES),
            (
                "WEBHOOK_TIMEOUT",
                &humantime::format_duration(TIMEOUT).to_string(),
            ),
            (
                "WEBHOOK_LEASE",
                &humantime::format_duration(LEASE).to_string(),
            ),
            (
                "WEBHOOK_POLL_INTERVAL",
                &humantime::format_duration(POLL).to_string(),
            ),
            (
                "WEBHOOK_HEARTBEAT_INTERVAL",
                &humantime::format_duration(HEARTBEAT).to_string(),
            ),
        ],
    )
    .await;
    let survivor = spawn_app_at(url, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = RETRIES.into();
        s.timeout = TIMEOUT;
        s.lease = Some(LEASE);
        s.poll_interval = POLL;
        s.heartbeat_interval = HEARTBEAT;
    })
    .await;
    ordered_webhook(&survivor, &receiver, PATH).await;

    // Every request waits until the binary has sent one too: on a loaded
    // machine the in-process service, quicker to start delivering, could
    // otherwise run every sequence to its end before the binary holds a head.
    receiver.pause();
    let events = publish_through_both(&survivor, &doomed).await;
    let deadline = Instant::now() + WAIT;
    while doomed.ports_connected_to(receiver.port).is_empty() {
        assert!(Instant::now() < deadline, "the binary never sent a request");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    receiver.release();
    let kill = kill_with_a_head_in_flight(&mut doomed, &survivor, &receiver).await;

    let answered = match wait_until_each_answered_2xx(&receiver, &kill, events.len()).await {
        Ok(answered) => answered,
        Err(event) => {
            let key = &events[&event].0;
            eprintln!(
                "{}",
                diagnose(&survivor, &receiver, &kill, &events, key).await
            );
            panic!("{event} ({key}) was answered 2xx twice");
        }
    };
    let rows = survivor.wait_until_settled(WAIT).await;
    assert_eq!(rows.len(), events.len(), "one delivery per event");
    assert!(
        rows.iter().all(|(status, _)| status == "succeeded"),
        "{rows:?}"
    );

    // Per key, the 2xx answers in the order they arrived: publish order.
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for request in &answered {
        let (key, n) = &events[request.header("webhook-id")];
        per_key.entry(key.clone()).or_default().push(*n);
    }
    assert_eq!(per_key.len(), KEYS);
    for (key, numbers) in &per_key {
        let expected: Vec<u64> = (0..EVENTS_PER_KEY as u64).collect();
        if numbers != &expected {
            eprintln!(
                "{}",
                diagnose(&survivor, &receiver, &kill, &events, key).await
            );
        }
        assert_eq!(numbers, &expected, "{key}: its 2xx answers, in order");
        assert_eq!(
            receiver.peak_in_flight(&format!("{PATH}#{key}")),
            1,
            "{key} had several requests open at once"
        );
    }

    // What the dead process held went out again, from the survivor, once
    // its lease had run out.
    for cut in &kill.cut {
        let event = cut.header("webhook-id");
        let again = answered
            .iter()
            .find(|r| r.header("webhook-id") == event)
            .expect("the cut head was answered 2xx later");
        let again_utc = kill.at_utc + (again.at - kill.at);
        let lease = kill.leases[event];
        assert!(
            again_utc >= lease,
            "the cut head went out again at {again_utc}, within the dead process's lease \
             (until {lease})"
        );
    }
}

/// Publishes `EVENTS_PER_KEY` events under each of `KEYS` keys, each key's
/// one after another (publish order is answer order): the first through
/// the binary, so that it holds heads from the start (handed off at
/// publishing), then every other one through each process; answers each
/// event's key and number by its id.
async fn publish_through_both(
    survivor: &TestApp,
    doomed: &ServiceProcess,
) -> HashMap<String, (String, u64)> {
    let publishers = (0..KEYS).map(|k| async move {
        let key = format!("key-{k}");
        let mut published = Vec::new();
        for n in 0..EVENTS_PER_KEY as u64 {
            let data = json!({"key": key, "n": n});
            let id = if n % 2 == 0 {
                let request = PublishEventRequest {
                    organization_id: survivor.organization.to_string(),
                    r#type: "member.added".into(),
                    data: Some(to_struct(data)),
                    ordering_key: key.clone(),
                    ..Default::default()
                };
                doomed.publish_event(request).await.expect("publish")
            } else {
                publish_keyed(survivor, &key, data).await
            };
            published.push((id, (key.clone(), n)));
        }
        published
    });
    futures_util::future::join_all(publishers)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Kills the binary while it has requests open at the receiver (heads in
/// flight, with the rest of their sequences behind them). Answers are
/// frozen around the kill, and it comes only when every 2xx the binary got
/// is recorded: an answer it got but had not
/// recorded would rightly be sent again (at least once), which is not what
/// this test is after.
async fn kill_with_a_head_in_flight(
    doomed: &mut ServiceProcess,
    survivor: &TestApp,
    receiver: &Receiver,
) -> Kill {
    let deadline = Instant::now() + WAIT;
    let ports = loop {
        assert!(
            Instant::now() < deadline,
            "the binary never had a head open"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        let ports = doomed.ports_connected_to(receiver.port);
        // A head in flight, the rest of its sequence behind it.
        let mid_sequence = receiver.unanswered(PATH).iter().any(|r| {
            ports.contains(&r.peer.port())
                && r.json()["data"]["n"].as_u64() < Some(EVENTS_PER_KEY as u64 - 1)
        });
        if !mid_sequence {
            continue;
        }
        receiver.freeze();
        // Ports are only added while frozen: those of new connections.
        let ports = doomed.ports_connected_to(receiver.port);
        let open = receiver.unanswered(PATH);
        if open.iter().any(|r| ports.contains(&r.peer.port())) {
            break ports;
        }
        receiver.thaw();
    };
    let answered: HashSet<String> = receiver
        .received(PATH)
        .iter()
        .filter(|r| ports.contains(&r.peer.port()) && r.answered_at.is_some())
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    let db = sea_orm::Database::connect(&survivor.database_url)
        .await
        .unwrap();
    while !answered.is_subset(&succeeded_events(&db).await) {
        assert!(
            Instant::now() < deadline,
            "the binary's 2xx answers were never all recorded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    db.close().await.unwrap();
    doomed.kill();
    let (at, at_utc) = (Instant::now(), Utc::now());
    // What the binary had open, none of it answered: the kill cut it off.
    let cut: Vec<Received> = receiver
        .unanswered(PATH)
        .into_iter()
        .filter(|r| ports.contains(&r.peer.port()))
        .collect();
    receiver.thaw();

    let mut leases = HashMap::new();
    for request in &cut {
        let event = request.header("webhook-id");
        let rows = survivor
            .query(&format!(
                "SELECT lease_until FROM deliveries WHERE event_id = '{event}'"
            ))
            .await;
        let lease: Option<DateTime<Utc>> = rows[0].try_get("", "lease_until").unwrap();
        let lease = lease.expect("the dead process's lease on its head");
        assert!(lease > at_utc, "the lease had run out before the kill");
        leases.insert(event.to_owned(), lease);
    }
    Kill {
        at,
        at_utc,
        cut,
        leases,
        ports,
    }
}

/// The events whose deliveries are recorded `succeeded`.
async fn succeeded_events(db: &sea_orm::DatabaseConnection) -> HashSet<String> {
    use sea_orm::ConnectionTrait;
    let sql = "SELECT CAST(event_id AS TEXT) AS event_id FROM deliveries \
               WHERE status = 'succeeded'";
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "event_id").unwrap())
    .collect()
}

/// Waits until `events` events were answered 2xx (the requests the kill
/// cut off got no answer); answers those 2xx answers in arrival order,
/// having checked that no event got two.
async fn wait_until_each_answered_2xx(
    receiver: &Receiver,
    kill: &Kill,
    events: usize,
) -> Result<Vec<Received>, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let cut: HashSet<_> = kill.cut.iter().map(|r| (r.peer, r.at)).collect();
        let mut answered: Vec<Received> = receiver
            .received(PATH)
            .into_iter()
            .filter(|r| r.status < 300 && r.answered_at.is_some())
            .filter(|r| !cut.contains(&(r.peer, r.at)))
            .collect();
        answered.sort_by_key(|r| r.at);
        let mut seen = HashSet::new();
        for request in &answered {
            let event = request.header("webhook-id");
            if !seen.insert(event.to_owned()) {
                return Err(event.to_owned());
            }
        }
        if seen.len() >= events {
            return Ok(answered);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {events} events answered 2xx",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// For a failure message: every request of `key` the receiver saw (times
/// in ms from the kill, by sending port) and every attempt the store
/// recorded, so that a failure tells a lost order from a test artefact.
async fn diagnose(
    survivor: &TestApp,
    receiver: &Receiver,
    kill: &Kill,
    events: &HashMap<String, (String, u64)>,
    key: &str,
) -> String {
    let mut out = format!(
        "== {key}; kill at +0 ms; the binary's ports {:?}; cut {:?}\n",
        kill.ports,
        kill.cut.iter().map(|r| r.peer.port()).collect::<Vec<_>>()
    );
    let ms = |t: Instant| {
        if t >= kill.at {
            (t - kill.at).as_millis() as i64
        } else {
            -((kill.at - t).as_millis() as i64)
        }
    };
    for r in receiver.received(PATH) {
        let Some((k, n)) = events.get(r.header("webhook-id")) else {
            continue;
        };
        if k != key {
            continue;
        }
        out += &format!(
            "recv n={n} attempt={} port={} at={} answered={:?} status={}\n",
            r.header("x-webhook-attempt"),
            r.peer.port(),
            ms(r.at),
            r.answered_at.map(ms),
            r.status
        );
    }
    let rows = survivor
        .query(&format!(
            "SELECT CAST(d.event_id AS TEXT) AS e, d.sequence AS s, d.behind AS b, d.status AS st, \
             a.attempt AS a, CAST(a.started_at AS TEXT) AS t, a.duration_ms AS ms, a.status_code AS c, \
             a.error_kind AS k FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id \
             WHERE d.ordering_key = '{key}' ORDER BY a.started_at"
        ))
        .await;
    for row in rows {
        let e: String = row.try_get("", "e").unwrap();
        let n = events.get(&e).map(|(_, n)| *n);
        out += &format!(
            "db n={n:?} seq={:?} behind={:?} status={:?} attempt={:?} started={:?} ms={:?} code={:?} kind={:?}\n",
            row.try_get::<Option<i64>>("", "s").ok().flatten(),
            row.try_get::<bool>("", "b").ok(),
            row.try_get::<String>("", "st").ok(),
            row.try_get::<Option<i32>>("", "a").ok().flatten(),
            row.try_get::<Option<String>>("", "t").ok().flatten(),
            row.try_get::<Option<i32>>("", "ms").ok().flatten(),
            row.try_get::<Option<i32>>("", "c").ok().flatten(),
            row.try_get::<Option<String>>("", "k").ok().flatten(),
        );
    }
    out
}
