//! When a failed delivery is tried again.

use std::time::{Duration, SystemTime};

use crate::domain::RetrySchedule;

/// The default delays between attempts (for webhooks without their own
/// schedule), and how far a receiver's `Retry-After` may push the next one.
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
    /// next, by the webhook's `own` schedule or else the default, or `None`
    /// when it was the last. A `Retry-After` can postpone the next attempt,
    /// up to the configured bound (whichever schedule), never bring it
    /// forward.
    pub fn next_delay(
        &self,
        own: Option<&RetrySchedule>,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let schedule = own.map_or(&self.schedule[..], RetrySchedule::steps);
        let scheduled = *schedule.get(attempt.checked_sub(1)? as usize)?;
        let asked = retry_after.unwrap_or_default().min(self.max_retry_after);
        Some(scheduled.max(asked))
    }

    /// The last wait of the webhook's `own` schedule or else the default's:
    /// how often a delivery is tried once its schedule is spent, for the
    /// failures that do not end it. A second when there are no steps.
    pub fn last_step(&self, own: Option<&RetrySchedule>) -> Duration {
        let schedule = own.map_or(&self.schedule[..], RetrySchedule::steps);
        schedule.last().copied().unwrap_or(Duration::from_secs(1))
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
        assert_eq!(p.next_delay(None, 1, None), Some(Duration::from_secs(1)));
        assert_eq!(p.next_delay(None, 2, None), Some(Duration::from_secs(5)));
        assert_eq!(p.next_delay(None, 3, None), Some(Duration::from_secs(30)));
        assert_eq!(p.next_delay(None, 4, None), None);
    }

    #[test]
    fn retry_after_postpones_within_its_bound_and_never_shortens() {
        let p = policy();
        assert_eq!(
            p.next_delay(None, 1, Some(Duration::from_secs(20))),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            p.next_delay(None, 3, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            p.next_delay(None, 1, Some(Duration::from_secs(9999))),
            Some(Duration::from_secs(300))
        );
        assert_eq!(p.next_delay(None, 4, Some(Duration::from_secs(2))), None);
    }

    #[test]
    fn a_webhooks_own_schedule_replaces_the_default_and_keeps_the_retry_after_bound() {
        let p = policy();
        let own = RetrySchedule::parse(&[(0, 100_000_000), (600, 0)])
            .unwrap()
            .unwrap();
        let own = Some(&own);
        assert_eq!(p.next_delay(own, 1, None), Some(Duration::from_millis(100)));
        assert_eq!(p.next_delay(own, 2, None), Some(Duration::from_secs(600)));
        assert_eq!(p.next_delay(own, 3, None), None);
        assert_eq!(
            p.next_delay(own, 1, Some(Duration::from_secs(9999))),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            p.next_delay(own, 1, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn the_last_step_is_the_own_schedules_or_the_defaults() {
        let p = policy();
        assert_eq!(p.last_step(None), Duration::from_secs(30));
        let own = RetrySchedule::parse(&[(0, 100_000_000), (2, 0)]).unwrap();
        assert_eq!(p.last_step(own.as_ref()), Duration::from_secs(2));
        let none = RetryPolicy::new(Vec::new(), Duration::from_secs(300));
        assert_eq!(none.last_step(None), Duration::from_secs(1));
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
