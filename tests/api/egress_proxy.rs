//! Deliveries through an egress proxy (WEBHOOK_EGRESS_PROXY), a real
//! tinyproxy with credentials: the service resolves and checks each
//! endpoint's address itself and asks the proxy for a tunnel to that
//! address, never to a name; a private address stays refused; a proxy that
//! is down delays deliveries without failing them or the endpoint.

use std::time::{Duration, Instant};

use serde_json::json;
use webhook_service::delivery::EgressProxy;

use crate::on_every_backend;
use crate::support::pki::loopback_name;
use crate::support::receiver::Receiver;
use crate::support::tinyproxy::{Tinyproxy, free_port, url_on};
use crate::support::{Backend, TestApp, deliver_to, spawn_app_with};

const WAIT: Duration = Duration::from_secs(15);

on_every_backend!(deliveries_go_through_the_proxy_to_the_address_the_service_checked);

async fn deliveries_go_through_the_proxy_to_the_address_the_service_checked(backend: Backend) {
    let receiver = Receiver::start().await;
    let proxy = Tinyproxy::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.egress_proxy = Some(EgressProxy::parse(&proxy.url()).unwrap());
    })
    .await;
    let url = format!("https://localhost:{}/via", receiver.port);
    app.subscribe(&url, &["member.added"]).await;
    for n in 0..3 {
        app.publish("member.added", json!({"n": n}), "")
            .await
            .unwrap();
    }

    let got = receiver.wait_for("/via", 3, WAIT).await;
    assert_eq!(got.len(), 3);
    // The proxy was asked for the address `localhost` resolved to, never
    // for the name, and kept its connection for the next requests.
    let connects = proxy.connects();
    assert!(
        !connects.is_empty(),
        "the deliveries did not go through the proxy"
    );
    for target in &connects {
        let host = target
            .strip_suffix(&format!(":{}", receiver.port))
            .unwrap_or_else(|| panic!("{target} is not to the receiver's port"));
        let host = host.trim_start_matches('[').trim_end_matches(']');
        assert!(
            host.parse::<std::net::IpAddr>().is_ok(),
            "the proxy was asked for a name: {connects:?}"
        );
    }
    assert!(connects.len() <= 3, "{connects:?}");
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_before_the_proxy_is_asked() {
    let Some(name) = loopback_name().await else {
        eprintln!("*** SKIPPED: no name resolves to loopback on this machine ***");
        return;
    };
    let receiver = Receiver::start().await;
    let proxy = Tinyproxy::start().await;
    // Private targets are not allowed (the default); the proxy's own
    // address is loopback, and allowed: it is the operator's.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.ca_file = Some(receiver.ca_file.clone());
        s.retry_schedule = String::new();
        s.egress_proxy = Some(EgressProxy::parse(&proxy.url()).unwrap());
    })
    .await;
    app.subscribe(
        &format!("https://{name}:{}/private", receiver.port),
        &["member.added"],
    )
    .await;
    app.publish("member.added", json!({}), "").await.unwrap();

    assert_eq!(
        app.wait_until_settled(WAIT).await,
        [("failed".to_owned(), 1)]
    );
    assert_eq!(attempt_kinds(&app).await, ["blocked"]);
    assert!(proxy.connects().is_empty(), "{:?}", proxy.connects());
    assert!(receiver.all_received().is_empty(), "the request went out");
}

#[tokio::test]
async fn a_dead_proxy_delays_deliveries_without_failing_them_or_the_endpoint() {
    let receiver = Receiver::start().await;
    let port = free_port();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        deliver_to(&receiver)(s);
        // One retry only, and a webhook failing for a moment is disabled:
        // an endpoint failure would end the delivery and disable it.
        s.retry_schedule = "50ms".into();
        s.disable_after = Duration::from_millis(1);
        s.egress_proxy = Some(EgressProxy::parse(&url_on(port)).unwrap());
    })
    .await;
    let created = app
        .subscribe(&receiver.url("/later"), &["member.added"])
        .await;
    let webhook = created.webhook.unwrap();
    app.publish("member.added", json!({}), "").await.unwrap();

    // Four attempts, more than the schedule allows, all the proxy's fault.
    let deadline = Instant::now() + WAIT;
    while attempt_kinds(&app).await.len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", attempt_kinds(&app).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kinds = attempt_kinds(&app).await;
    assert!(kinds.iter().all(|k| k == "proxy"), "{kinds:?}");
    let message = app
        .query("SELECT error_message FROM delivery_attempts")
        .await[0]
        .try_get::<String>("", "error_message")
        .unwrap();
    assert!(
        message.contains(&format!("egress proxy 127.0.0.1:{port}")),
        "{message}"
    );
    let rows = app.deliveries().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "pending", "{rows:?}");
    let seen = app.get_webhook(&webhook.id).await.unwrap();
    assert!(seen.enabled, "{seen:?}");
    assert!(seen.failing_since.is_none(), "{seen:?}");
    assert!(receiver.all_received().is_empty());

    // The proxy comes back: the delivery goes out.
    let _proxy = Tinyproxy::start_on(port).await;
    receiver.wait_for("/later", 1, WAIT).await;
    let rows = app.wait_until_settled(WAIT).await;
    assert_eq!(rows[0].0, "succeeded", "{rows:?}");
}

async fn attempt_kinds(app: &TestApp) -> Vec<String> {
    app.query("SELECT error_kind FROM delivery_attempts ORDER BY attempt")
        .await
        .iter()
        .map(|r| r.try_get::<String>("", "error_kind").unwrap_or_default())
        .collect()
}
