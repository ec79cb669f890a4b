//! Counting each RPC in on the activity of the connection it came on (see
//! [`crate::net::activity`]), so that idle connections can be told from
//! busy ones.
//!
//! Health `Watch` streams are the exception: they cost the client nothing to
//! hold and never end on their own, so a connection holding nothing else
//! would never be idle. They do not count; a client that wants its `Watch`
//! kept on an otherwise quiet connection sends HTTP/2 pings, as gRPC
//! clients do when keepalive is configured (the connection's handshake rule
//! reads them: see `frames`).

use std::task::{Context, Poll};

use tonic::codegen::Service;
use tonic::codegen::http::{Request, Response};
use tonic::transport::server::TcpConnectInfo;
use tower_layer::Layer;

use super::ConnectionInfo;
use crate::net::activity::{TrackedBody, TrackedFuture};

/// The calls that do not keep their connection busy: `grpc.health.v1.Health`
/// `Watch`, which its own bounds limit instead (see `src/grpc/health/`).
const PASSIVE_CALLS: [&str; 1] = ["/grpc.health.v1.Health/Watch"];

/// Counts each request in on the activity of the connection it came on
/// (found in the request's extensions, where tonic puts the connection's
/// [`ConnectionInfo`]) until its response body is dropped; health `Watch`
/// calls excepted.
///
/// It also adds tonic's own `TcpConnectInfo`, so `Request::remote_addr`
/// keeps answering in handlers.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackRpcsLayer;

impl<S> Layer<S> for TrackRpcsLayer {
    type Service = TrackRpcs<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackRpcs { inner }
    }
}

/// The service [`TrackRpcsLayer`] wraps around the routes.
#[derive(Debug, Clone)]
pub struct TrackRpcs<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TrackRpcs<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let connection = request.extensions().get::<ConnectionInfo>().cloned();
        let passive = PASSIVE_CALLS.contains(&request.uri().path());
        let in_progress = connection
            .as_ref()
            .filter(|_| !passive)
            .map(|c| c.activity.begin());
        if let Some(connection) = connection {
            request.extensions_mut().insert(TcpConnectInfo {
                local_addr: connection.local_addr,
                remote_addr: connection.remote_addr,
            });
        }
        TrackedFuture::new(self.inner.call(request), in_progress)
    }
}
