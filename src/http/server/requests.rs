//! The service a plain-HTTP connection calls: each request counts itself
//! in on the connection's activity (until its answer is sent, so the idle
//! timeout knows when the connection is idle, and the handshake is done
//! once the first one has begun), and its body gets its deadline.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;
use tower::Service;

use super::RequestBody;
use super::body::TimedBody;
use crate::net::Activity;
use crate::net::activity::{TrackedBody, TrackedFuture};

/// `inner`, as one connection calls it.
#[derive(Debug, Clone)]
pub(super) struct CountRequests<S> {
    inner: S,
    activity: Arc<Activity>,
    /// How long a request's body has, from the end of its head.
    body_time: Duration,
}

impl<S> CountRequests<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>, body_time: Duration) -> Self {
        Self {
            inner,
            activity,
            body_time,
        }
    }
}

impl<S, B> Service<Request<Incoming>> for CountRequests<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        // hyper calls the service once the request's head is in.
        let in_progress = self.activity.begin();
        let body_time = self.body_time;
        let request = request.map(|body| TimedBody::new(body, Instant::now(), body_time));
        TrackedFuture::new(self.inner.call(request), Some(in_progress))
    }
}
