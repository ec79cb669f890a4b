//! Wall-clock times: adding a `std::time::Duration` without overflowing
//! (settings can be arbitrarily large, and a panic there would stop
//! delivery), and the range of times a caller may give.

use chrono::{DateTime, TimeDelta, Utc};

/// `at + span`, or the latest representable time.
pub fn after(at: DateTime<Utc>, span: std::time::Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at - span`, or the earliest representable time.
pub fn before(at: DateTime<Utc>, span: std::time::Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The first instant a caller may give: 0001-01-01T00:00:00Z.
pub const EARLIEST: DateTime<Utc> = match DateTime::from_timestamp(-62_135_596_800, 0) {
    Some(t) => t,
    None => panic!("year 1 is a time"),
};

/// The last instant a caller may give: 9999-12-31T23:59:59.999999999Z.
pub const LATEST: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 999_999_999) {
    Some(t) => t,
    None => panic!("year 9999 is a time"),
};

/// A time outside [`EARLIEST`]..=[`LATEST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z")
    }
}

/// `at`, when both databases store it and compare it as a time: years 1
/// to 9999. SQLite keeps times as RFC 3339 text and compares the text,
/// which orders times only while the year has four digits (year 12000 is
/// written `+12000-...` and sorts before every other); PostgreSQL stores
/// nothing before 4713 BC.
pub fn in_stored_range(at: DateTime<Utc>) -> Result<DateTime<Utc>, OutOfRange> {
    if (EARLIEST..=LATEST).contains(&at) {
        Ok(at)
    } else {
        Err(OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;
    use std::time::Duration;

    #[test]
    fn callers_may_give_years_1_to_9999_and_nothing_else() {
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        assert_eq!(text(EARLIEST), "0001-01-01T00:00:00Z");
        assert_eq!(text(LATEST), "9999-12-31T23:59:59.999999999Z");
        assert_eq!(in_stored_range(EARLIEST), Ok(EARLIEST));
        assert_eq!(in_stored_range(LATEST), Ok(LATEST));
        let nanosecond = TimeDelta::nanoseconds(1);
        assert_eq!(in_stored_range(EARLIEST - nanosecond), Err(OutOfRange));
        assert_eq!(in_stored_range(LATEST + nanosecond), Err(OutOfRange));
        assert_eq!(in_stored_range(DateTime::<Utc>::MIN_UTC), Err(OutOfRange));
        assert_eq!(in_stored_range(DateTime::<Utc>::MAX_UTC), Err(OutOfRange));
    }

    #[test]
    fn huge_spans_saturate_instead_of_panicking() {
        let now = Utc::now();
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + TimeDelta::seconds(5)
        );
        assert_eq!(after(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(before(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
    }
}
