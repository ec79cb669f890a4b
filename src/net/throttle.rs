//! Warnings about failures that can come by the thousand (failed accepts,
//! failed TLS handshakes): one line now and then, saying how many failures
//! it covers, rather than one per failure.

use tokio::time::{Duration, Instant};

/// Decides when a run of failures is worth a warning.
#[derive(Debug)]
pub struct WarningThrottle {
    /// At most one warning per this long.
    interval: Duration,
    /// Failures since the last warning.
    unreported: u64,
    last_warning: Option<Instant>,
}

impl WarningThrottle {
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            unreported: 0,
            last_warning: None,
        }
    }

    /// Counts one failure at `now`. When a warning is due, returns how many
    /// failures it covers (this one included) and starts counting anew.
    pub fn failed(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        let due = self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= self.interval);
        due.then(|| {
            self.last_warning = Some(now);
            std::mem::take(&mut self.unreported)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_warns_and_the_next_warning_waits_for_the_interval() {
        let mut throttle = WarningThrottle::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(throttle.failed(start), Some(1));
        for seconds in [1, 30, 59] {
            assert_eq!(throttle.failed(start + Duration::from_secs(seconds)), None);
        }
        assert_eq!(throttle.failed(start + Duration::from_secs(60)), Some(4));
        assert_eq!(throttle.failed(start + Duration::from_secs(61)), None);
    }
}
