//! When a failed delivery is tried again.

use std::time::{Duration, SystemTime};

/// The delays between attempts, and how far a receiver's `Retry-After` may
/// push the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    schedule: Vec<Duration>,
    max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn new(schedule: Vec<Duration>, max_retry_after: Duration) -> Self {
        Self {
            schedule,
            max_retry_after,
        }
    }

    /// Parses `1s,5s,30s` (any humantime durations, comma-separated; empty
    /// means no retries).
    pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}")))
            .collect()
    }

    /// The first attempt plus one per retry.
    pub fn max_attempts(&self) -> u32 {
        self.schedule.len() as u32 + 1
    }

    /// After attempt `attempt` (1-based) failed: how long to wait before the
    /// next, or `None` when it was the last. A `Retry-After` can postpone the
    /// next attempt, up to the configured bound, never bring it forward.
    pub fn next_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let scheduled = *self.schedule.get(attempt.checked_sub(1)? as usize)?;
        let asked = retry_after.unwrap_or_default().min(self.max_retry_after);
        Some(scheduled.max(asked))
    }
}

/// Reads a `Retry-After` value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(
            RetryPolicy::parse_schedule("1s,5s,30s").unwrap(),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn the_default_schedule_gives_four_attempts_with_growing_gaps() {
        let p = policy();
        assert_eq!(p.max_attempts(), 4);
        assert_eq!(p.next_delay(1, None), Some(Duration::from_secs(1)));
        assert_eq!(p.next_delay(2, None), Some(Duration::from_secs(5)));
        assert_eq!(p.next_delay(3, None), Some(Duration::from_secs(30)));
        assert_eq!(p.next_delay(4, None), None);
    }

    #[test]
    fn retry_after_postpones_within_its_bound_and_never_shortens() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(20))),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            p.next_delay(3, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(9999))),
            Some(Duration::from_secs(300))
        );
        assert_eq!(p.next_delay(4, Some(Duration::from_secs(2))), None);
    }

    #[test]
    fn schedules_parse_in_any_unit() {
        assert_eq!(
            RetryPolicy::parse_schedule("10ms, 2s,1m").unwrap(),
            [
                Duration::from_millis(10),
                Duration::from_secs(2),
                Duration::from_secs(60)
            ]
        );
        assert!(RetryPolicy::parse_schedule("").unwrap().is_empty());
        assert!(RetryPolicy::parse_schedule("1s,soon").is_err());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
