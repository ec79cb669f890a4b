//! Labels on events: a few short key/value pairs a publisher attaches so
//! that an event can be told apart (and routed) without reading its `data`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Violations;
use super::validation::{no_nul, quoted};

/// Sorted by key: an event's body is the same bytes whatever order its
/// labels came in.
pub type Labels = BTreeMap<String, String>;

/// The most labels one event carries.
pub const MAX_LABELS: usize = 16;
/// The longest key, in characters (keys are ASCII).
pub const MAX_KEY: usize = 63;
/// The longest value, in characters.
pub const MAX_VALUE: usize = 256;

/// Records against `violations` whatever is wrong with `labels`: too many
/// (on `labels`); a key that is not 1 to [`MAX_KEY`] of `a-z 0-9 _ . -`
/// (on `labels`, the key quoted: a bad key is no address to report on); a
/// value over [`MAX_VALUE`] characters or with NUL (on `labels/<key>`, the
/// JSON pointer to it, as `data/<key>` names a field of `data`).
pub fn check(labels: &Labels, violations: &mut Violations) {
    if labels.len() > MAX_LABELS {
        violations.add(
            "labels",
            format!(
                "holds {} labels; at most {MAX_LABELS} are accepted",
                labels.len()
            ),
        );
    }
    for (key, value) in labels {
        if !is_key(key) {
            violations.add(
                "labels",
                format!(
                    "key {} must be 1 to {MAX_KEY} characters, each a-z, 0-9, '_', '.' or '-'",
                    quoted(key)
                ),
            );
            continue;
        }
        // A valid key holds neither `~` nor `/`: the pointer needs no escaping.
        let field = || format!("labels/{key}");
        let length = value.chars().count();
        if length > MAX_VALUE {
            violations.add(
                field(),
                format!("is {length} characters; at most {MAX_VALUE} are accepted"),
            );
        }
        if let Err(reason) = no_nul(value) {
            violations.add(field(), reason);
        }
    }
}

/// Whether `key` is 1 to [`MAX_KEY`] of `a-z 0-9 _ . -`: lower case, so
/// that `Region` and `region` are never two labels, and nothing that needs
/// quoting in a filter, a log line or a JSON pointer.
fn is_key(key: &str) -> bool {
    (1..=MAX_KEY).contains(&key.len())
        && key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'))
}

/// The labels in an event's body as this service writes it (none when it
/// has no `labels`); `None` when `body` is not such a body.
pub fn in_body(body: &str) -> Option<Labels> {
    #[derive(Deserialize)]
    struct Envelope {
        // `data` and the rest are skipped, not built.
        #[serde(default)]
        labels: Labels,
    }
    serde_json::from_str::<Envelope>(body)
        .ok()
        .map(|envelope| envelope.labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// `(field, description)` of each violation `labels` has.
    fn violations_of(labels: &Labels) -> Vec<(String, String)> {
        let mut violations = Violations::default();
        check(labels, &mut violations);
        violations
            .into_reported()
            .into_iter()
            .map(|v| (v.field.into_owned(), v.description))
            .collect()
    }

    #[test]
    fn sixteen_labels_of_the_longest_keys_and_values_are_accepted() {
        let keys: Vec<String> = (0..16)
            .map(|i| format!("{i:02}{}", "k".repeat(61)))
            .collect();
        let value = "é".repeat(MAX_VALUE);
        let most = labels(keys.iter().map(|k| (k.as_str(), value.as_str())));
        assert_eq!(most.len(), 16);
        assert_eq!(violations_of(&most), []);
        let every_character = labels([("az09_.-", ""), ("0", "x")]);
        assert_eq!(violations_of(&every_character), []);
        assert_eq!(violations_of(&Labels::new()), []);
    }

    #[test]
    fn seventeen_labels_are_refused_on_labels() {
        let keys: Vec<String> = (0..17).map(|i| format!("k{i}")).collect();
        let many = labels(keys.iter().map(|k| (k.as_str(), "v")));
        assert_eq!(
            violations_of(&many),
            [(
                "labels".to_owned(),
                "holds 17 labels; at most 16 are accepted".to_owned()
            )]
        );
    }

    #[test]
    fn a_key_must_be_one_to_63_lower_case_letters_digits_or_underscore_dot_dash() {
        let long = "k".repeat(64);
        for bad in ["", "Region", "eu region", "a/b", "ü", "a\0", long.as_str()] {
            let found = violations_of(&labels([(bad, "v")]));
            assert_eq!(found.len(), 1, "{bad:?}: {found:?}");
            assert_eq!(found[0].0, "labels", "{bad:?}");
            assert!(
                found[0].1.starts_with(&format!("key {}", quoted(bad))),
                "{found:?}"
            );
        }
        assert_eq!(violations_of(&labels([(&long[1..], "v")])), []);
    }

    #[test]
    fn a_value_is_at_most_256_characters_without_nul_reported_on_its_pointer() {
        let long = "x".repeat(257);
        assert_eq!(
            violations_of(&labels([("region", long.as_str()), ("team", "a\0b")])),
            [
                (
                    "labels/region".to_owned(),
                    "is 257 characters; at most 256 are accepted".to_owned()
                ),
                (
                    "labels/team".to_owned(),
                    "must not contain NUL characters".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_long_bad_key_is_quoted_cut_short() {
        let huge = "K".repeat(10_000);
        let found = violations_of(&labels([(huge.as_str(), "v")]));
        assert!(found[0].1.len() < 200, "{}", found[0].1);
    }

    #[test]
    fn labels_are_read_back_from_a_body() {
        let body = r#"{"id":"e","labels":{"region":"eu"},"data":{"labels":{"x":"y"}}}"#;
        assert_eq!(in_body(body), Some(labels([("region", "eu")])));
        assert_eq!(in_body(r#"{"id":"e","data":{}}"#), Some(Labels::new()));
        assert_eq!(in_body("not json"), None);
    }
}
