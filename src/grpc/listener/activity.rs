//! Whether a connection is idle: every RPC counts itself in on its
//! connection and out when its response body is dropped, so a long call
//! keeps its connection busy for as long as it runs; and a PING from the
//! client counts as a moment of activity.
//!
//! Health `Watch` streams are the exception: they cost the client nothing to
//! hold and never end on their own, so a connection holding nothing else
//! would never be idle. They do not count; a client that wants its `Watch`
//! kept on an otherwise quiet connection sends HTTP/2 pings, as gRPC
//! clients do when keepalive is configured.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tonic::codegen::Service;
use tonic::codegen::http::{Request, Response};
use tonic::transport::server::TcpConnectInfo;
use tower_layer::Layer;

use super::ConnectionInfo;

/// The calls that do not keep their connection busy: `grpc.health.v1.Health`
/// `Watch`, which its own bounds limit instead (see `src/grpc/health/`).
const PASSIVE_CALLS: [&str; 1] = ["/grpc.health.v1.Health/Watch"];

/// The RPCs in progress on one connection, and since when there are none.
#[derive(Debug)]
pub(super) struct Activity {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    in_progress: usize,
    idle_since: Instant,
}

impl Activity {
    /// A connection that has just been accepted: idle from now on.
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                in_progress: 0,
                idle_since: Instant::now(),
            }),
        }
    }

    /// How long the connection has had no RPC in progress at `now`; `None`
    /// while one is.
    pub(super) fn idle_for(&self, now: Instant) -> Option<Duration> {
        let state = self.lock();
        (state.in_progress == 0).then(|| now.saturating_duration_since(state.idle_since))
    }

    /// The connection did something at `now` (the client sent a PING): it
    /// is idle from then on at the earliest.
    pub(super) fn touch(&self, now: Instant) {
        let mut state = self.lock();
        state.idle_since = state.idle_since.max(now);
    }

    fn begin(self: &Arc<Self>) -> InProgress {
        self.lock().in_progress += 1;
        InProgress(Arc::clone(self))
    }

    // The counter stays consistent whatever panicked while holding the lock:
    // each critical section is one arithmetic step.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One RPC in progress; dropping it counts the RPC out.
#[derive(Debug)]
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_progress -= 1;
        if state.in_progress == 0 {
            state.idle_since = Instant::now();
        }
    }
}

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
        TrackedFuture {
            inner: self.inner.call(request),
            in_progress,
        }
    }
}

pin_project! {
    /// The response future of [`TrackRpcs`]: hands the RPC's count to the
    /// response body. Dropped early (the client went away), it counts the
    /// RPC out.
    pub struct TrackedFuture<F> {
        #[pin]
        inner: F,
        in_progress: Option<InProgress>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let in_progress = this.in_progress.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _in_progress: in_progress,
        })))
    }
}

pin_project! {
    /// A response body that keeps its RPC counted in until it is dropped,
    /// which hyper does once the last frame is sent or the stream is reset.
    pub struct TrackedBody<B> {
        #[pin]
        body: B,
        _in_progress: Option<InProgress>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_while_no_rpc_is_in_progress() {
        let activity = Arc::new(Activity::new());
        assert!(activity.idle_for(Instant::now()).is_some());

        let first = activity.begin();
        let second = activity.begin();
        assert_eq!(activity.idle_for(Instant::now()), None);
        drop(first);
        assert_eq!(activity.idle_for(Instant::now()), None);
        drop(second);

        let later = Instant::now() + Duration::from_secs(7);
        let idle = activity.idle_for(later).expect("idle once both ended");
        assert!(idle >= Duration::from_secs(7) && idle < Duration::from_secs(8));
    }

    #[test]
    fn a_touch_starts_the_idle_time_again_and_never_moves_it_back() {
        let activity = Arc::new(Activity::new());
        let start = Instant::now();
        activity.touch(start + Duration::from_secs(5));
        activity.touch(start + Duration::from_secs(2));
        let idle = activity.idle_for(start + Duration::from_secs(6));
        assert_eq!(idle, Some(Duration::from_secs(1)));

        let call = activity.begin();
        activity.touch(start + Duration::from_secs(7));
        assert_eq!(activity.idle_for(start + Duration::from_secs(8)), None);
        drop(call);
    }
}
