//! A delivery's last error in a few words (`last_error_summary`), beside
//! the whole text, through gRPC and REST.

use std::time::Duration;

use serde_json::json;

use crate::on_every_backend;
use crate::support::receiver::Receiver;
use crate::support::{Backend, deliver_to, spawn_app_with};

on_every_backend!(each_delivery_says_its_last_error_in_a_few_words_beside_the_whole_text);

const WAIT: Duration = Duration::from_secs(10);

async fn each_delivery_says_its_last_error_in_a_few_words_beside_the_whole_text(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| {
        deliver_to(&receiver)(s);
        s.retry_schedule = "".into();
    })
    .await;
    receiver.always("/down", 503);
    receiver.always("/up", 200);
    // Nothing listens on this port: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = format!("https://127.0.0.1:{port}/refused");
    let down = app
        .subscribe(&receiver.url("/down"), &["member.added"])
        .await;
    let up = app.subscribe(&receiver.url("/up"), &["member.added"]).await;
    let gone = app.subscribe(&refused, &["member.added"]).await;
    app.publish("member.added", json!({}), "").await.unwrap();
    app.wait_until_settled(WAIT).await;

    let of = |webhook: &webhook_service::grpc::proto::CreateWebhookResponse| {
        webhook.webhook.as_ref().unwrap().id.clone()
    };
    let down = &app.deliveries_of(&of(&down)).await[0];
    assert_eq!(down.last_error, "http_status: 503");
    assert_eq!(down.last_error_summary, "HTTP 503");
    let gone = &app.deliveries_of(&of(&gone)).await[0];
    assert!(gone.last_error.len() > 80, "{}", gone.last_error);
    assert!(gone.last_error.contains(&refused), "{}", gone.last_error);
    assert_eq!(gone.last_error_summary, "connection refused");
    let up = &app.deliveries_of(&of(&up)).await[0];
    assert_eq!(
        (up.last_error.as_str(), up.last_error_summary.as_str()),
        ("", "")
    );

    // REST says the same, by its JSON name.
    let listed = app
        .rest()
        .call(
            "GET",
            &format!(
                "/v1/organizations/{}/deliveries/{}",
                app.organization, gone.id
            ),
            Some(&app.token("OWNER")),
            None,
        )
        .await;
    assert_eq!(listed.body["lastErrorSummary"], "connection refused");
}
