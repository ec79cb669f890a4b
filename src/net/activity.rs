//! Whether a connection is idle: every request counts itself in on its
//! connection and out when its response body is dropped, so a long
//! streaming answer keeps its connection busy for as long as it runs; and a
//! client's keepalive (an HTTP/2 PING, where the listener's handshake rule
//! reads them) counts as a moment of activity. Which requests count is the
//! listener's choice: gRPC leaves out health `Watch` streams.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::Response;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;

/// The requests in progress on one connection, and since when there are
/// none.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    in_progress: usize,
    idle_since: Instant,
    /// Whether any request has begun on the connection.
    begun: bool,
}

impl Activity {
    /// A connection that has just been accepted: idle from now on.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                in_progress: 0,
                idle_since: Instant::now(),
                begun: false,
            }),
        }
    }

    /// How long the connection has had no request in progress at `now`;
    /// `None` while one is.
    pub fn idle_for(&self, now: Instant) -> Option<Duration> {
        let state = self.lock();
        (state.in_progress == 0).then(|| now.saturating_duration_since(state.idle_since))
    }

    /// The connection did something at `now` (the client sent a PING): it
    /// is idle from then on at the earliest.
    pub fn touch(&self, now: Instant) {
        let mut state = self.lock();
        state.idle_since = state.idle_since.max(now);
    }

    /// Whether a request has begun on the connection (for HTTP, whether
    /// the headers of one have come in).
    pub fn has_begun(&self) -> bool {
        self.lock().begun
    }

    /// Counts a request in until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InProgress {
        let mut state = self.lock();
        state.in_progress += 1;
        state.begun = true;
        InProgress(Arc::clone(self))
    }

    // The counter stays consistent whatever panicked while holding the lock:
    // each critical section is one arithmetic step.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// One request in progress; dropping it counts the request out.
#[derive(Debug)]
pub struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_progress -= 1;
        if state.in_progress == 0 {
            state.idle_since = Instant::now();
        }
    }
}

pin_project! {
    /// A response future that hands its request's count to the response
    /// body. Dropped early (the client went away), it counts the request
    /// out.
    pub struct TrackedFuture<F> {
        #[pin]
        inner: F,
        in_progress: Option<InProgress>,
    }
}

impl<F> TrackedFuture<F> {
    /// `inner`, whose request `in_progress` counts (`None`: not counted).
    pub fn new(inner: F, in_progress: Option<InProgress>) -> Self {
        Self { inner, in_progress }
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
    /// A response body that keeps its request counted in until it is
    /// dropped, which hyper does once the last frame is sent or the stream
    /// is reset.
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
    fn a_connection_is_idle_only_while_no_request_is_in_progress() {
        let activity = Arc::new(Activity::new());
        assert!(activity.idle_for(Instant::now()).is_some());
        assert!(!activity.has_begun());

        let first = activity.begin();
        let second = activity.begin();
        assert!(activity.has_begun());
        assert_eq!(activity.idle_for(Instant::now()), None);
        drop(first);
        assert_eq!(activity.idle_for(Instant::now()), None);
        drop(second);

        let later = Instant::now() + Duration::from_secs(7);
        let idle = activity.idle_for(later).expect("idle once both ended");
        assert!(idle >= Duration::from_secs(7) && idle < Duration::from_secs(8));
        assert!(
            activity.has_begun(),
            "a request has begun, even if it ended"
        );
    }

    #[test]
    fn a_touch_starts_the_idle_time_again_and_never_moves_it_back() {
        let activity = Arc::new(Activity::new());
        let start = Instant::now();
        activity.touch(start + Duration::from_secs(5));
        activity.touch(start + Duration::from_secs(2));
        let idle = activity.idle_for(start + Duration::from_secs(6));
        assert_eq!(idle, Some(Duration::from_secs(1)));
        assert!(!activity.has_begun(), "a touch is no request");

        let call = activity.begin();
        activity.touch(start + Duration::from_secs(7));
        assert_eq!(activity.idle_for(start + Duration::from_secs(8)), None);
        drop(call);
    }
}
