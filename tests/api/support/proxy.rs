//! A TCP proxy in front of the test database, which a test can cut to make
//! the database "go away", and restore to bring it back.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards loopback TCP to `upstream` until cut.
pub struct Proxy {
    pub port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.forward(listener);
        proxy
    }

    fn forward(&self, listener: TcpListener) {
        let (upstream, registry) = (self.upstream.clone(), self.tasks.clone());
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
        self.tasks.lock().unwrap().push(acceptor);
    }

    /// Closes every connection and refuses new ones: the database is "down".
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Accepts connections on the same port again: the database is back.
    #[allow(dead_code)]
    pub async fn restore(&self) {
        // The aborted acceptor drops its listener at its next poll.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(err) => panic!("cannot listen on port {} again: {err}", self.port),
            }
        };
        self.forward(listener);
    }
}

/// A database URL for a fresh PostgreSQL database, reached through a proxy.
pub async fn proxied_database() -> (Proxy, String) {
    let url = url::Url::parse(&super::postgres::fresh_database().unwrap()).unwrap();
    let proxy = Proxy::start(format!("127.0.0.1:{}", url.port().unwrap())).await;
    let mut proxied = url.clone();
    proxied.set_port(Some(proxy.port)).unwrap();
    (proxy, proxied.to_string())
}
