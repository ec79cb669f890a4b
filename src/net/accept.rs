//! Accepting connections without spinning: when `accept` fails for a reason
//! that is not about one connection (out of file descriptors, out of memory),
//! retrying at once fails again at once and burns a core. Back off instead,
//! and say so in the log now and then rather than on every failure.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::throttle::WarningThrottle;

/// The first pause after a failed accept; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// A second without accepting is short next to what an exhausted descriptor
/// table costs the connections already open.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// At most one warning per this long, however many accepts fail.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// A listener, and the pause it is in after failed accepts.
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    backoff: Backoff,
    /// Set during a pause: when to accept again.
    resume_at: Option<Instant>,
}

impl Acceptor {
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            backoff: Backoff::default(),
            resume_at: None,
        }
    }

    /// The next connection, with `TCP_NODELAY` on (both gRPC and the REST
    /// face send small messages that should not wait for more). Never
    /// fails: failures are logged, and failed accepts retried after a
    /// pause. Dropping the future loses no connection and does not cut a
    /// pause short, so it can race against other work (TLS handshakes in
    /// progress, shutdown).
    pub async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            if let Some(at) = self.resume_at {
                tokio::time::sleep_until(at).await;
                self.resume_at = None;
            }
            match self.listener.accept().await {
                Ok((stream, remote_addr)) => {
                    self.backoff.succeeded();
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
                    }
                    return (stream, remote_addr);
                }
                Err(err) if concerns_one_connection(&err) => {
                    tracing::debug!(error = %err, "a connection failed before it was accepted");
                }
                Err(err) => {
                    let now = Instant::now();
                    let retry = self.backoff.failed(now);
                    if let Some(failures) = retry.warn_with_failures {
                        tracing::warn!(
                            error = %err,
                            failures,
                            pause_ms = retry.pause.as_millis() as u64,
                            "cannot accept connections; pausing before trying again"
                        );
                    }
                    self.resume_at = Some(now + retry.pause);
                }
            }
        }
    }
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
#[derive(Debug)]
struct Backoff {
    /// The pause the last failure got; `None` after a success.
    pause: Option<Duration>,
    warnings: WarningThrottle,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            pause: None,
            warnings: WarningThrottle::new(WARNING_INTERVAL),
        }
    }
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
        Retry {
            pause,
            warn_with_failures: self.warnings.failed(now),
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
