//! `grpc.health.v1.Health`, answered from [`Health`]: the API's services
//! and the whole server (`""`) are SERVING only while the database answers
//! and the process is not draining. `Watch` streams end once the server
//! stops, so that an open one never holds a shutdown for its whole grace,
//! and only so many may be open at once (see [`watches`]).

mod watches;

pub use watches::{PER_CONNECTION as WATCHES_PER_CONNECTION, WatchLimits};

use std::pin::Pin;

use futures_util::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{self, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use self::watches::WatchPlace;
use super::listener::ConnectionInfo;
use super::proto::{event_service_server, webhook_service_server};
use crate::health::Health;

/// The services whose health is reported: the whole server, and the API's.
pub const SERVICES: [&str; 3] = [
    "",
    webhook_service_server::SERVICE_NAME,
    event_service_server::SERVICE_NAME,
];

/// Serves the health protocol over [`Health`].
pub struct HealthApi {
    health: Health,
    stopped: watch::Receiver<bool>,
    watches: WatchLimits,
}

impl HealthApi {
    /// `stopped` turns true once the server stops taking calls; `watches`
    /// bounds the `Watch` streams open at once.
    pub fn new(
        health: Health,
        stopped: watch::Receiver<bool>,
        watches: WatchLimits,
    ) -> HealthServer<Self> {
        HealthServer::new(Self {
            health,
            stopped,
            watches,
        })
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl health_server::Health for HealthApi {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if !SERVICES.contains(&request.get_ref().service.as_str()) {
            return Err(Status::not_found("service not registered"));
        }
        Ok(Response::new(response(status(self.health.is_serving()))))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let connection = request.extensions().get::<ConnectionInfo>();
        let place = self.watches.admit(connection.map(|c| c.id))?;
        let known = SERVICES.contains(&request.get_ref().service.as_str());
        let watcher = Watcher {
            _place: place,
            known,
            serving: self.health.subscribe(),
            stopped: self.stopped.clone(),
            sent: None,
            stopping: false,
        };
        Ok(Response::new(Box::pin(futures_util::stream::unfold(
            watcher,
            Watcher::next,
        ))))
    }
}

/// One `Watch` call: the status now, then each change, until the server stops.
struct Watcher {
    /// Given back when the stream is dropped, however it ends.
    _place: WatchPlace,
    known: bool,
    serving: watch::Receiver<bool>,
    stopped: watch::Receiver<bool>,
    /// The last status sent.
    sent: Option<ServingStatus>,
    stopping: bool,
}

impl Watcher {
    async fn next(mut self) -> Option<(Result<HealthCheckResponse, Status>, Self)> {
        loop {
            // Read after a stop too: draining comes first, so the last word
            // of every stream is NOT_SERVING.
            let now = if self.known {
                status(*self.serving.borrow_and_update())
            } else {
                // Per the protocol: said once, and the call stays open.
                ServingStatus::ServiceUnknown
            };
            if self.sent != Some(now) {
                self.sent = Some(now);
                return Some((Ok(response(now)), self));
            }
            if self.stopping {
                return None;
            }
            tokio::select! {
                _ = self.stopped.wait_for(|stopped| *stopped) => self.stopping = true,
                changed = self.serving.changed(), if self.known => {
                    if changed.is_err() {
                        self.stopping = true;
                    }
                }
            }
        }
    }
}

fn status(serving: bool) -> ServingStatus {
    if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status.into(),
    }
}
