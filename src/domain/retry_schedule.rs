//! A webhook's own retry schedule: the waits between its attempts, in
//! place of the service's default.

use std::time::Duration;

/// The most steps (retries) a schedule may hold.
pub const MAX_STEPS: usize = 20;

/// The longest a schedule may last in total: past a week an event is
/// rarely worth sending, and retention would have dropped it anyway.
pub const MAX_TOTAL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The waits after each failed attempt, in order: at least one step, each
/// positive and a whole number of milliseconds, at most [`MAX_STEPS`], at
/// most [`MAX_TOTAL`] together. Built only by [`RetrySchedule::parse`] (or
/// read back from what it stored), so it always holds these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// A schedule from durations given as (seconds, nanoseconds) with the
    /// sign on both, as the wire carries them. Empty gives `None`: the
    /// service's default schedule. The reason of a refusal names the step
    /// (1-based) when one is at fault.
    pub fn parse(steps: &[(i64, i32)]) -> Result<Option<Self>, String> {
        if steps.is_empty() {
            return Ok(None);
        }
        if steps.len() > MAX_STEPS {
            return Err(format!(
                "has {} steps; at most {MAX_STEPS} are accepted",
                steps.len()
            ));
        }
        let parsed = steps
            .iter()
            .enumerate()
            .map(|(i, &(seconds, nanos))| {
                step(seconds, nanos).map_err(|why| format!("step {}: {why}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let total: Duration = parsed.iter().sum();
        if total > MAX_TOTAL {
            return Err(format!(
                "lasts {} in total; at most 7 days is accepted",
                humantime::format_duration(total)
            ));
        }
        Ok(Some(Self(parsed)))
    }

    /// The waits, in order.
    pub fn steps(&self) -> &[Duration] {
        &self.0
    }

    /// As stored: milliseconds, comma-separated (`100,200`).
    pub fn to_stored(&self) -> String {
        let millis: Vec<String> = self.0.iter().map(|d| d.as_millis().to_string()).collect();
        millis.join(",")
    }

    /// Reads back what [`Self::to_stored`] wrote, checked as on write so a
    /// row edited by hand cannot carry a schedule the API would refuse.
    pub fn from_stored(text: &str) -> Result<Option<Self>, String> {
        let steps = text
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let millis: i64 = s
                    .parse()
                    .map_err(|_| format!("{s:?} is not milliseconds"))?;
                Ok((millis / 1000, ((millis % 1000) * 1_000_000) as i32))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Self::parse(&steps)
    }
}

/// One step: positive, in whole milliseconds.
fn step(seconds: i64, nanos: i32) -> Result<Duration, String> {
    if !(0..1_000_000_000).contains(&nanos) && !(-999_999_999..0).contains(&nanos) {
        return Err("nanos must be within ±999,999,999".to_owned());
    }
    if seconds < 0 || nanos < 0 || (seconds == 0 && nanos == 0) {
        return Err("must be longer than zero".to_owned());
    }
    if nanos % 1_000_000 != 0 {
        return Err("must be a whole number of milliseconds".to_owned());
    }
    // Bounded here so the sum below cannot overflow.
    let step = Duration::new(u64::try_from(seconds).unwrap_or(u64::MAX), nanos as u32);
    if step > MAX_TOTAL {
        return Err("is longer than 7 days".to_owned());
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn an_empty_schedule_means_the_default() {
        assert_eq!(RetrySchedule::parse(&[]), Ok(None));
    }

    #[test]
    fn steps_keep_their_order_and_millisecond_precision() {
        let schedule =
            RetrySchedule::parse(&[(0, 100_000_000), (0, 200_000_000), (3600, 5_000_000)])
                .unwrap()
                .unwrap();
        assert_eq!(schedule.steps(), [ms(100), ms(200), ms(3_600_005)]);
    }

    #[test]
    fn more_than_twenty_steps_are_refused() {
        let twenty = vec![(1, 0); MAX_STEPS];
        assert!(RetrySchedule::parse(&twenty).unwrap().is_some());
        let err = RetrySchedule::parse(&vec![(1, 0); MAX_STEPS + 1]).unwrap_err();
        assert_eq!(err, "has 21 steps; at most 20 are accepted");
    }

    #[test]
    fn zero_and_negative_steps_are_refused() {
        let zero = RetrySchedule::parse(&[(1, 0), (0, 0)]).unwrap_err();
        assert_eq!(zero, "step 2: must be longer than zero");
        assert!(RetrySchedule::parse(&[(-1, 0)]).is_err());
        assert!(RetrySchedule::parse(&[(0, -1_000_000)]).is_err());
    }

    #[test]
    fn steps_finer_than_a_millisecond_are_refused() {
        let err = RetrySchedule::parse(&[(0, 1_500_000)]).unwrap_err();
        assert_eq!(err, "step 1: must be a whole number of milliseconds");
        assert!(RetrySchedule::parse(&[(1, 999)]).is_err());
        assert!(RetrySchedule::parse(&[(0, 1_000_000_000)]).is_err());
    }

    #[test]
    fn at_most_seven_days_in_total() {
        let day = 24 * 3600;
        assert!(
            RetrySchedule::parse(&[(3 * day, 0), (4 * day, 0)])
                .unwrap()
                .is_some()
        );
        let err = RetrySchedule::parse(&[(3 * day, 0), (4 * day, 1_000_000)]).unwrap_err();
        assert_eq!(err, "lasts 7days 1ms in total; at most 7 days is accepted");
        // One huge step cannot overflow the sum.
        assert!(RetrySchedule::parse(&[(i64::MAX, 0), (i64::MAX, 0)]).is_err());
    }

    #[test]
    fn what_is_stored_reads_back_the_same() {
        let schedule = RetrySchedule::parse(&[(0, 100_000_000), (90, 5_000_000)])
            .unwrap()
            .unwrap();
        assert_eq!(schedule.to_stored(), "100,90005");
        assert_eq!(
            RetrySchedule::from_stored(&schedule.to_stored()),
            Ok(Some(schedule))
        );
        assert_eq!(RetrySchedule::from_stored(""), Ok(None));
        assert!(RetrySchedule::from_stored("100,soon").is_err());
        assert!(RetrySchedule::from_stored("0").is_err());
    }
}
