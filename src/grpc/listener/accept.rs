//! Accepting connections without spinning: when `accept` fails for a reason
//! that is not about one connection (out of file descriptors, out of memory),
//! retrying at once fails again at once and burns a core. Back off instead,
//! and say so in the log now and then rather than on every failure.

use std::io;
use std::time::Duration;

use futures_util::Stream;
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::{Connection, ConnectionTimeouts};

/// The first pause after a failed accept; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// A second without accepting is short next to what an exhausted descriptor
/// table costs the connections already open.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// At most one warning per this long, however many accepts fail.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The connections `listener` accepts, with `TCP_NODELAY` on (gRPC sends
/// small frames that should not wait for more) and `timeouts` applied. Never
/// yields an error: failures are logged and retried after a pause.
pub fn incoming(
    listener: TcpListener,
    timeouts: ConnectionTimeouts,
) -> impl Stream<Item = Result<Connection, std::convert::Infallible>> {
    futures_util::stream::unfold(
        (listener, Backoff::default()),
        move |(listener, mut backoff)| async move {
            let connection = loop {
                match listener.accept().await {
                    Ok((stream, remote_addr)) => {
                        backoff.succeeded();
                        if let Err(err) = stream.set_nodelay(true) {
                            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
                        }
                        break Connection::new(stream, remote_addr, timeouts);
                    }
                    Err(err) if concerns_one_connection(&err) => {
                        tracing::debug!(error = %err, "a connection failed before it was accepted");
                    }
                    Err(err) => {
                        let retry = backoff.failed(Instant::now());
                        if let Some(failures) = retry.warn_with_failures {
                            tracing::warn!(
                                error = %err,
                                failures,
                                pause_ms = retry.pause.as_millis() as u64,
                                "cannot accept connections; pausing before trying again"
                            );
                        }
                        tokio::time::sleep(retry.pause).await;
                    }
                }
            };
            Some((Ok(connection), (listener, backoff)))
        },
    )
}

/// Errors about the one connection being accepted (it was reset or aborted
/// while in the queue): the next accept may well succeed.
fn concerns_one_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The pause after each failed accept, and when failures are worth a warning.
#[derive(Debug, Default)]
struct Backoff {
    /// The pause the last failure got; `None` after a success.
    pause: Option<Duration>,
    /// Failures since the last warning.
    unreported: u64,
    last_warning: Option<Instant>,
}

/// What to do after one failed accept.
#[derive(Debug, PartialEq, Eq)]
struct Retry {
    pause: Duration,
    /// Set when a warning is due: how many failures it covers.
    warn_with_failures: Option<u64>,
}

impl Backoff {
    fn succeeded(&mut self) {
        // The warning clock is kept: descriptors running out again right
        // after one was freed should not bring one warning per connection.
        self.pause = None;
    }

    fn failed(&mut self, now: Instant) -> Retry {
        let pause = self
            .pause
            .map_or(FIRST_PAUSE, |p| (p * 2).min(LONGEST_PAUSE));
        self.pause = Some(pause);
        self.unreported += 1;
        let warn = self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARNING_INTERVAL);
        let warn_with_failures = warn.then(|| {
            self.last_warning = Some(now);
            std::mem::take(&mut self.unreported)
        });
        Retry {
            pause,
            warn_with_failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_ten_milliseconds_up_to_a_second_and_reset_after_a_success() {
        let mut backoff = Backoff::default();
        let now = Instant::now();
        let pauses: Vec<_> = (0..10)
            .map(|_| backoff.failed(now).pause.as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);

        backoff.succeeded();
        assert_eq!(backoff.failed(now).pause, FIRST_PAUSE);
    }

    #[test]
    fn a_warning_is_given_at_most_every_ten_seconds_with_the_failures_it_covers() {
        let mut backoff = Backoff::default();
        let start = Instant::now();
        assert_eq!(backoff.failed(start).warn_with_failures, Some(1));
        for _ in 0..5 {
            assert_eq!(
                backoff
                    .failed(start + Duration::from_secs(3))
                    .warn_with_failures,
                None
            );
        }
        backoff.succeeded();
        assert_eq!(
            backoff
                .failed(start + Duration::from_secs(9))
                .warn_with_failures,
            None
        );
        assert_eq!(
            backoff
                .failed(start + Duration::from_secs(10))
                .warn_with_failures,
            Some(7)
        );
    }

    #[test]
    fn errors_about_one_connection_are_not_backed_off() {
        assert!(concerns_one_connection(
            &io::ErrorKind::ConnectionAborted.into()
        ));
        let out_of_descriptors = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(!concerns_one_connection(&out_of_descriptors));
    }
}
