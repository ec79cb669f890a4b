//! Field-level validation failures, reported together so a client can show
//! each one next to its field, and few enough (with each value quoted back
//! cut short) that the error stays small whatever the request held.

use std::borrow::Cow;

/// One request field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field, as named in the proto (`url`, `events`, ...),
    /// or a JSON pointer into one (`data/amount`).
    pub field: Cow<'static, str>,
    /// What is wrong with it, in a sentence a user can act on.
    pub description: String,
}

/// The most violations one error reports; the rest are only counted. An
/// error travels in gRPC metadata, which clients cap (grpcio at 16 KiB).
pub const MAX_REPORTED: usize = 10;

/// The most characters of a caller's value quoted back in a description.
pub const MAX_QUOTED: usize = 40;

/// The violations found in one request, the first [`MAX_REPORTED`] of them
/// and how many more; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    reported: Vec<FieldViolation>,
    omitted: usize,
}

impl Violations {
    /// Records that `field` is wrong.
    pub fn add(&mut self, field: impl Into<Cow<'static, str>>, description: impl Into<String>) {
        if self.reported.len() == MAX_REPORTED {
            self.omitted += 1;
            return;
        }
        self.reported.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// The violations reported, in the order found.
    pub fn reported(&self) -> &[FieldViolation] {
        &self.reported
    }

    /// How many more were found than are reported.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// The sentence that stands for the violations not reported, if any.
    pub fn omitted_note(&self) -> Option<String> {
        (self.omitted > 0).then(|| format!("and {} more violations, not shown", self.omitted))
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.reported.is_empty()
    }

    /// The reported violations, taken out.
    pub fn into_reported(self) -> Vec<FieldViolation> {
        self.reported
    }

    /// Keeps the value of `result`, or records its error against `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &'static str,
        result: Result<T, E>,
    ) -> Option<T> {
        result.map_err(|e| self.add(field, e.to_string())).ok()
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .reported
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .chain(self.omitted_note())
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// A caller's `text` quoted back as Rust debug-quotes it, cut after
/// [`MAX_QUOTED`] characters (marked with `…`): enough to recognise it,
/// never enough to make an error large.
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED) {
        None => format!("{text:?}"),
        Some((end, _)) => format!("{:?}", format!("{}…", &text[..end])),
    }
}

/// Text that will be stored must not hold NUL: PostgreSQL cannot store it,
/// and no caller means it.
pub fn no_nul(text: &str) -> Result<(), &'static str> {
    if text.contains('\0') {
        Err("must not contain NUL characters")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_ten_violations_are_only_counted() {
        let mut violations = Violations::default();
        for _ in 0..13 {
            violations.add("update_mask", "no");
        }
        assert_eq!(violations.reported().len(), MAX_REPORTED);
        assert_eq!(violations.omitted(), 3);
        assert!(
            violations
                .to_string()
                .ends_with("update_mask: no; and 3 more violations, not shown")
        );
        assert!(Violations::default().into_result().is_ok());
    }

    #[test]
    fn a_quoted_value_is_cut_after_forty_characters() {
        assert_eq!(quoted("member.exploded"), "\"member.exploded\"");
        let long = quoted(&"é".repeat(1000));
        assert_eq!(long, format!("\"{}…\"", "é".repeat(MAX_QUOTED)));
        assert_eq!(quoted("a\"\n"), "\"a\\\"\\n\"");
    }
}
