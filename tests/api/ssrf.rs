//! The SSRF guard holds at connect time, whatever a name resolves to.

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::pki::loopback_name;
use crate::support::receiver::Receiver;
use crate::support::{Backend, spawn_app_with};

on_every_backend!(a_name_that_resolves_to_loopback_is_refused_at_connect_time);

async fn a_name_that_resolves_to_loopback_is_refused_at_connect_time(backend: Backend) {
    let Some(name) = loopback_name().await else {
        eprintln!("*** SKIPPED: no name resolves to loopback on this machine ***");
        return;
    };
    let receiver = Receiver::start().await;
    // Private targets are not allowed: the default.
    let app = spawn_app_with(backend, |s| {
        s.ca_file = Some(receiver.ca_file.clone());
        s.retry_schedule = String::new();
    })
    .await;
    let url = format!("https://{name}:{}/ssrf", receiver.port);
    app.subscribe(&url, &["member.added"]).await;
    app.publish("member.added", json!({}), "").await.unwrap();

    assert_eq!(
        app.wait_until_settled(Duration::from_secs(10)).await,
        [("failed".to_owned(), 1)]
    );
    let kinds = app.query("SELECT error_kind FROM delivery_attempts").await;
    assert_eq!(
        kinds[0].try_get::<String>("", "error_kind").unwrap(),
        "blocked"
    );
    assert!(receiver.all_received().is_empty(), "the request went out");
}
