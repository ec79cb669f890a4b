//! Portal links: how long one may work.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use super::clock;

/// How long a portal link works when the request does not say.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How long a portal link works: whole seconds, more than none, at most the
/// configured maximum. Whole seconds because a token's `exp` counts seconds:
/// `1.5s` would be a promise the token cannot keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLifetime(Duration);

impl LinkLifetime {
    /// The lifetime asked for as protobuf's `seconds` and `nanos` (`None`:
    /// not said, so [`DEFAULT_LIFETIME`], or `max` when that is shorter).
    pub fn parse(requested: Option<(i64, i32)>, max: Duration) -> Result<Self, String> {
        let Some((seconds, nanos)) = requested else {
            return Ok(Self(DEFAULT_LIFETIME.min(max)));
        };
        if nanos != 0 {
            return Err("must be a whole number of seconds, such as `600s`".into());
        }
        if seconds <= 0 {
            return Err("must be longer than 0s".into());
        }
        let lifetime = Duration::from_secs(seconds.unsigned_abs());
        if lifetime > max {
            return Err(format!(
                "must be at most {}s (WEBHOOK_PORTAL_MAX_TTL)",
                max.as_secs()
            ));
        }
        Ok(Self(lifetime))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// When a link made at `now` with this lifetime stops working, for a
    /// caller whose token expires at `token_expires_at`: the lifetime, cut
    /// short at the token's expiry, because a link must never outlive the
    /// token that made it (a refused token would otherwise live on as a
    /// link). Whole seconds, like a token's `exp`. `None` when that leaves
    /// no time after `now`: the link would be dead on arrival.
    pub fn ends(
        self,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let end = clock::after(now.trunc_subsecs(0), self.0).min(token_expires_at.trunc_subsecs(0));
        (end > now).then_some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(seconds: i64, millis: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, millis * 1_000_000).unwrap()
    }

    #[test]
    fn a_link_ends_with_its_lifetime_or_the_token_that_made_it_whichever_is_first() {
        let hour = LinkLifetime::parse(Some((3600, 0)), HOUR).unwrap();
        let now = at(1_000_000, 250);
        // A token with longer to live: the lifetime, from the current second.
        assert_eq!(hour.ends(now, at(2_000_000, 0)), Some(at(1_003_600, 0)));
        // A token with 5 s left: those 5 s.
        assert_eq!(hour.ends(now, at(1_000_005, 0)), Some(at(1_000_005, 0)));
        assert_eq!(hour.ends(now, at(1_000_001, 0)), Some(at(1_000_001, 0)));
        // A token at or past its expiry (inside the verifier's leeway): none.
        assert_eq!(hour.ends(now, at(1_000_000, 0)), None);
        assert_eq!(hour.ends(now, at(999_970, 0)), None);
        // A fraction of the token's last second is not promised.
        assert_eq!(hour.ends(now, at(1_000_000, 900)), None);
        // The end of the calendar does not overflow.
        let longest = LinkLifetime::parse(Some((i64::from(u32::MAX), 0)), Duration::MAX).unwrap();
        assert_eq!(
            longest.ends(now, DateTime::<Utc>::MAX_UTC),
            Some(clock::after(at(1_000_000, 0), longest.as_duration()))
        );
    }

    #[test]
    fn an_unset_lifetime_is_a_quarter_of_an_hour_or_the_maximum_if_shorter() {
        let parse = |max| LinkLifetime::parse(None, max).unwrap().as_duration();
        assert_eq!(parse(HOUR), Duration::from_secs(900));
        assert_eq!(parse(Duration::from_secs(60)), Duration::from_secs(60));
    }

    #[test]
    fn whole_seconds_up_to_the_maximum_are_taken() {
        let parse = |s| LinkLifetime::parse(Some((s, 0)), HOUR).map(LinkLifetime::as_duration);
        assert_eq!(parse(1), Ok(Duration::from_secs(1)));
        assert_eq!(parse(3600), Ok(HOUR));
        assert!(parse(3601).unwrap_err().contains("at most 3600s"));
        assert!(parse(0).unwrap_err().contains("longer than 0s"));
        assert!(parse(-5).is_err());
        assert!(parse(i64::MIN).is_err());
        assert!(parse(i64::MAX).is_err());
    }

    #[test]
    fn fractions_of_a_second_are_refused() {
        for (seconds, nanos) in [(1, 500_000_000), (0, 1), (-1, -1), (5, -3)] {
            let refused = LinkLifetime::parse(Some((seconds, nanos)), HOUR).unwrap_err();
            assert!(
                refused.contains("whole number"),
                "{seconds} {nanos}: {refused}"
            );
        }
    }
}
