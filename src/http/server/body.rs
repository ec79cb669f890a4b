//! A request body that must come in whole by a deadline: a client that
//! trickles its body (a byte now and then, never silent for long) would
//! otherwise hold its connection, its task and its descriptor for as long
//! as it likes. REST bodies are at most 1 MiB, so the handshake timeout
//! from the end of the request's head is plenty for any real client.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn Error + Send + Sync>;

/// The error a [`TimedBody`] ends with when its time is up.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive whole within {0:?} of the request's headers")]
pub struct BodyTooSlow(pub Duration);

impl BodyTooSlow {
    /// The [`BodyTooSlow`] that `err` is, or that one of its causes is.
    pub fn in_chain<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a Self> {
        let mut cause = Some(err);
        while let Some(err) = cause {
            if let Some(too_slow) = err.downcast_ref::<Self>() {
                return Some(too_slow);
            }
            cause = err.source();
        }
        None
    }
}

pin_project! {
    /// `body`, cut off with [`BodyTooSlow`] unless it has ended by its
    /// deadline.
    pub struct TimedBody<B> {
        #[pin]
        body: B,
        deadline: Instant,
        allowed: Duration,
        // Made at the first wait only: most bodies are already whole
        // (or empty) by the time they are read.
        timer: Option<Pin<Box<Sleep>>>,
        state: State,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Receiving,
    Ended,
    TimedOut,
}

impl<B> TimedBody<B> {
    /// `body`, which has `allowed` from `start` to come in whole.
    pub fn new(body: B, start: Instant, allowed: Duration) -> Self {
        Self {
            body,
            deadline: crate::net::later(start, allowed),
            allowed,
            timer: None,
            state: State::Receiving,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if *this.state == State::TimedOut {
            return Poll::Ready(None);
        }
        let too_slow = |state: &mut State| {
            *state = State::TimedOut;
            Poll::Ready(Some(Err(BodyTooSlow(*this.allowed).into())))
        };
        match this.body.poll_frame(cx) {
            Poll::Ready(None) => {
                *this.state = State::Ended;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                // A client sending steadily but too slowly gets its frames
                // read without a wait: the deadline holds for them too.
                if *this.state == State::Receiving && Instant::now() >= *this.deadline {
                    return too_slow(this.state);
                }
                Poll::Ready(Some(frame.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = *this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    return too_slow(this.state);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::TimedOut || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[tokio::test]
    async fn a_body_that_does_not_end_in_time_is_cut_off_and_a_whole_one_is_not() {
        let allowed = Duration::from_millis(100);
        let whole = TimedBody::new(
            Full::new(Bytes::from_static(b"{}")),
            Instant::now(),
            allowed,
        );
        assert_eq!(whole.collect().await.unwrap().to_bytes(), "{}");

        // One frame, then nothing: the sender is kept, so the body never ends.
        let (send, frames) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        send.send(Ok(Frame::data(Bytes::from_static(b"{"))))
            .await
            .unwrap();
        let stalled = StreamBody::new(stream_of(frames));
        let started = Instant::now();
        let err = TimedBody::new(stalled, started, allowed)
            .collect()
            .await
            .unwrap_err();
        assert!(BodyTooSlow::in_chain(&*err).is_some(), "{err}");
        assert!(started.elapsed() >= allowed, "{:?}", started.elapsed());
        drop(send);
    }

    fn stream_of<T>(
        mut receiver: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }
}
