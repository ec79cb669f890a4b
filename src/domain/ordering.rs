//! Ordered delivery: a webhook may ask for its deliveries of one ordering
//! key to go out one at a time, in publish order.

use super::validation::no_nul;

/// The longest ordering key accepted, in characters: long enough for any
/// id a sender keys its sequences by, short enough to keep the sequence
/// rows and their index small.
pub const MAX_ORDERING_KEY: usize = 128;

/// How a webhook's deliveries go out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ordering {
    /// As soon as each can, several at once (the default).
    #[default]
    Unordered,
    /// Per ordering key, one at a time in publish order: the next starts
    /// only once the one before succeeded or ended `failed` after its
    /// retries (a failed delivery does not block its sequence forever).
    Ordered,
}

impl Ordering {
    /// `Ordered` when `ordered`.
    pub fn from_ordered(ordered: bool) -> Self {
        if ordered {
            Ordering::Ordered
        } else {
            Ordering::Unordered
        }
    }

    pub fn is_ordered(self) -> bool {
        self == Ordering::Ordered
    }
}

/// Why an `ordering` value the wire carried is refused.
pub fn unknown_ordering(value: i32) -> String {
    format!("{value} is not an ordering: ORDERING_UNORDERED (0) or ORDERING_ORDERED (1)")
}

/// The sequence an event's deliveries to an ordered webhook join, within
/// that webhook. Empty: the webhook's one sequence for every event without
/// a key. Ignored for unordered webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderingKey(String);

impl OrderingKey {
    /// At most [`MAX_ORDERING_KEY`] characters and no NUL (PostgreSQL
    /// refuses it in text); empty is the webhook's default sequence.
    pub fn parse(key: String) -> Result<Self, String> {
        let length = key.chars().count();
        if length > MAX_ORDERING_KEY {
            return Err(format!(
                "is {length} characters long; at most {MAX_ORDERING_KEY} are accepted"
            ));
        }
        no_nul(&key)?;
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_up_to_128_characters_without_nul_are_accepted() {
        assert_eq!(OrderingKey::parse(String::new()).unwrap().as_str(), "");
        let longest = "é".repeat(MAX_ORDERING_KEY);
        assert_eq!(
            OrderingKey::parse(longest.clone()).unwrap().as_str(),
            longest
        );
    }

    #[test]
    fn longer_keys_and_nul_are_refused() {
        let err = OrderingKey::parse("k".repeat(MAX_ORDERING_KEY + 1)).unwrap_err();
        assert!(err.contains("129 characters"), "{err}");
        let err = OrderingKey::parse("a\0b".into()).unwrap_err();
        assert!(err.contains("NUL"), "{err}");
    }
}
