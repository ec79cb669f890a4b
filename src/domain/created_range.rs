//! A range of creation times to list deliveries by, and the range of ids
//! it maps to.
//!
//! A delivery's id is a UUIDv7 whose 48-bit prefix is its creation time in
//! milliseconds since the Unix epoch, and the store writes `created_at` as
//! that very millisecond (see [`super::ids::DeliveryId::generate_at`]). So
//! "created in `[from, before)`" is an id range that every index of the
//! deliveries ends in `id` already serves, in page order: no index on
//! `created_at`, no scan of the rows outside the range.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Violations;
use super::clock;

/// Deliveries created at or after `from` and before `before`; a missing
/// bound does not limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreatedRange {
    pub from: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
}

/// The request fields, for the violations.
pub const FROM_FIELD: &str = "created_at_or_after";
pub const BEFORE_FIELD: &str = "created_before";

impl CreatedRange {
    /// Checks the bounds as the caller gave them (`Err` says why a field
    /// holds no valid time): each in years 1 to 9999, `from` before
    /// `before`.
    pub fn parse(
        from: Option<Result<DateTime<Utc>, String>>,
        before: Option<Result<DateTime<Utc>, String>>,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::default();
        let mut read = |field: &'static str, given: Option<Result<DateTime<Utc>, String>>| {
            let checked = given?.and_then(|t| clock::in_stored_range(t).map_err(|e| e.to_string()));
            checked.map_err(|why| violations.add(field, why)).ok()
        };
        let range = Self {
            from: read(FROM_FIELD, from),
            before: read(BEFORE_FIELD, before),
        };
        if let (Some(from), Some(before)) = (range.from, range.before)
            && before <= from
        {
            violations.add(
                BEFORE_FIELD,
                format!("must be later than {FROM_FIELD}: the range holds no time"),
            );
        }
        violations.into_result().map(|()| range)
    }

    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.before.is_none()
    }

    /// The ids of the deliveries created in the range: at least the first
    /// (inclusive), less than the second (exclusive). `created_at` being
    /// the id's millisecond, `created_at >= from` holds for no id under
    /// the first millisecond at or after `from`, and `created_at < before`
    /// for no id at or over the first millisecond at or after `before`.
    /// The lower bound takes the millisecond `from` falls in instead: the
    /// same ids for a whole millisecond, and safe for deliveries stored
    /// before ids and times were one (whose id may be a little later than
    /// their `created_at`, never earlier); the store filters `created_at`
    /// itself besides.
    pub fn id_bounds(&self) -> (Option<Uuid>, Option<Uuid>) {
        let lower = self.from.map(|t| first_id_of(floor_millis(t)));
        let upper = self.before.map(|t| first_id_of(ceil_millis(t)));
        (lower, upper)
    }

    /// The listing's name in its page tokens: a token carries the range it
    /// was made for, so one of another range (or none) is refused rather
    /// than continuing a different listing.
    pub fn token_kind(&self, kind: &str) -> String {
        if self.is_unbounded() {
            return kind.to_owned();
        }
        let text = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default()
        };
        format!("{kind}@{}..{}", text(self.from), text(self.before))
    }
}

fn floor_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn ceil_millis(t: DateTime<Utc>) -> i64 {
    let floor = t.timestamp_millis();
    if t.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        floor
    } else {
        floor + 1
    }
}

/// The smallest UUIDv7 of millisecond `millis` (none is earlier than the
/// epoch: before it, the first of the epoch).
pub fn first_id_of(millis: i64) -> Uuid {
    let millis = millis.clamp(0, (1 << 48) - 1) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryId;
    use chrono::TimeDelta;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    fn range(from: Option<&str>, before: Option<&str>) -> Result<CreatedRange, Violations> {
        CreatedRange::parse(from.map(|t| Ok(at(t))), before.map(|t| Ok(at(t))))
    }

    #[test]
    fn an_id_made_at_a_time_lies_in_exactly_the_ranges_that_hold_that_time() {
        let made = at("2026-12-06T09:07:07.123Z");
        let id = DeliveryId::generate_at(made).as_uuid();
        let inside = |from: &str, before: &str| {
            let (lower, upper) = range(Some(from), Some(before)).unwrap().id_bounds();
            lower.is_none_or(|l| id >= l) && upper.is_none_or(|u| id < u)
        };
        assert!(inside(
            "2026-12-06T09:07:07.123Z",
            "2026-12-06T09:07:07.124Z"
        ));
        assert!(inside(
            "2026-12-06T09:07:07.1225Z",
            "2026-12-06T09:07:07.1231Z"
        ));
        assert!(!inside(
            "2026-12-06T09:07:07.000Z",
            "2026-12-06T09:07:07.123Z"
        ));
        assert!(!inside(
            "2026-12-06T09:07:07.000Z",
            "2026-12-06T09:07:07.1225Z"
        ));
        assert!(!inside("2026-12-06T09:07:07.124Z", "2026-12-06T09:07:08Z"));
    }

    #[test]
    fn ids_before_the_epoch_or_at_the_last_year_stay_in_order() {
        assert_eq!(first_id_of(-5), first_id_of(0));
        assert!(first_id_of(0) < first_id_of(1));
        let last = at("9999-12-31T23:59:59.999Z").timestamp_millis();
        assert!(first_id_of(last - 1) < first_id_of(last));
        assert_eq!(
            first_id_of(1).to_string(),
            "00000000-0001-7000-8000-000000000000"
        );
    }

    fn fields_of(result: Result<CreatedRange, Violations>) -> Vec<String> {
        let violations = result.unwrap_err();
        violations
            .reported()
            .iter()
            .map(|v| v.field.to_string())
            .collect()
    }

    #[test]
    fn a_range_must_hold_time_and_lie_in_years_1_to_9999() {
        assert!(range(None, None).unwrap().is_unbounded());
        let same = range(Some("2026-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"));
        let fields: Vec<String> = fields_of(same);
        assert_eq!(fields, [BEFORE_FIELD]);
        let early = clock::EARLIEST - TimeDelta::nanoseconds(1);
        let bad = CreatedRange::parse(Some(Ok(early)), Some(Err("is not a time".into())));
        let fields: Vec<String> = fields_of(bad);
        assert_eq!(fields, [FROM_FIELD, BEFORE_FIELD]);
    }

    #[test]
    fn a_token_names_its_range() {
        let none = CreatedRange::default();
        assert_eq!(none.token_kind("deliveries"), "deliveries");
        let one = range(Some("2026-01-01T00:00:00Z"), None).unwrap();
        let other = range(Some("2026-01-01T00:00:00.000000001Z"), None).unwrap();
        assert_ne!(one.token_kind("d"), other.token_kind("d"));
        assert_ne!(one.token_kind("d"), none.token_kind("d"));
    }
}
