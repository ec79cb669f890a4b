//! What callers see when the database goes away. PostgreSQL only: the test
//! puts a TCP proxy between the service and the database and cuts it.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tonic::Code;

use crate::support::{postgres, postgres_available, spawn_app_at};

/// Forwards loopback TCP to `upstream` until cut.
struct Proxy {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let registry = tasks.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                registry.lock().unwrap().push(pipe);
            }
        });
        tasks.lock().unwrap().push(acceptor);
        Self { port, tasks }
    }

    /// Closes every connection and refuses new ones: the database is "down".
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test]
async fn a_database_that_is_down_answers_unavailable_without_details() {
    if !postgres_available() {
        return;
    }
    let url = url::Url::parse(&postgres::fresh_database().unwrap()).unwrap();
    let proxy = Proxy::start(format!("127.0.0.1:{}", url.port().unwrap())).await;
    let mut proxied = url.clone();
    proxied.set_port(Some(proxy.port)).unwrap();
    let app = spawn_app_at(proxied.to_string(), |_| {}).await;

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
