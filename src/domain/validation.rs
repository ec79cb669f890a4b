//! Field-level validation failures, reported together so a client can show
//! each one next to its field.

/// One request field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field, as named in the proto (`url`, `events`, ...).
    pub field: &'static str,
    /// What is wrong with it, in a sentence a user can act on.
    pub description: String,
}

/// Every violation found in one request; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldViolation>);

impl Violations {
    /// Records that `field` is wrong.
    pub fn add(&mut self, field: &'static str, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field,
            description: description.into(),
        });
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
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        f.write_str(&parts.join("; "))
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
