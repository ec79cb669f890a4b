//! What callers see when the database goes away. PostgreSQL only: the test
//! puts a TCP proxy between the service and the database and cuts it.

use tonic::Code;

use crate::support::proxy::proxied_database;
use crate::support::{postgres_available, spawn_app_at};

#[tokio::test]
async fn a_database_that_is_down_answers_unavailable_without_details() {
    if !postgres_available() {
        return;
    }
    let (proxy, url) = proxied_database().await;
    let app = spawn_app_at(url, |_| {}).await;

    let first = app.create_request("https://hooks.example.com/up", &["member.added"]);
    app.create_webhook(first)
        .await
        .expect("works while the database is up");

    proxy.cut();
    let second = app.create_request("https://hooks.example.com/down", &["member.added"]);
    let status = app.create_webhook(second).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        !status.message().contains("127.0.0.1"),
        "{}",
        status.message()
    );
}
