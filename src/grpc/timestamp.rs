//! `google.protobuf.Timestamp`, written in JSON as the proto3 mapping says:
//! RFC 3339, in UTC with `Z`, with 0, 3, 6 or 9 fractional digits
//! (`2026-11-30T04:00:00.123Z`). pbjson-types' own writes `+00:00`. Its
//! protobuf encoding is the well-known type's: seconds and nanos.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: seconds since the Unix epoch, and nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    fn to_datetime(self) -> Option<DateTime<Utc>> {
        let nanos = u32::try_from(self.nanos).ok()?;
        DateTime::from_timestamp(self.seconds, nanos)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(t) = self.to_datetime() else {
            return Err(serde::ser::Error::custom(format!(
                "a timestamp out of range: {self:?}"
            )));
        };
        serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Self::from(t.with_timezone(&Utc)))
            .map_err(|e| D::Error::custom(format!("`{text}` is not an RFC 3339 time: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_times_are_utc_with_z_and_whole_groups_of_digits() {
        let json = |seconds, nanos| serde_json::to_value(Timestamp { seconds, nanos }).unwrap();
        assert_eq!(json(1, 0), "1970-01-01T00:00:01Z");
        assert_eq!(json(1, 120_000_000), "1970-01-01T00:00:01.120Z");
        assert_eq!(json(1, 656_942_000), "1970-01-01T00:00:01.656942Z");
        assert_eq!(json(1, 1), "1970-01-01T00:00:01.000000001Z");
        assert!(
            serde_json::to_value(Timestamp {
                seconds: 0,
                nanos: -1
            })
            .is_err()
        );
    }

    #[test]
    fn any_offset_is_read_back_as_the_same_instant() {
        let read = |text: &str| serde_json::from_value::<Timestamp>(text.into());
        let instant = Timestamp {
            seconds: 3_600,
            nanos: 500_000_000,
        };
        assert_eq!(read("1970-01-01T01:00:00.5Z").unwrap(), instant);
        assert_eq!(read("1970-01-01T02:00:00.5+01:00").unwrap(), instant);
        assert!(read("yesterday").is_err());
    }
}
