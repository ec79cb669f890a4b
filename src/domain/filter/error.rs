//! Why a filter is refused when written, and why one evaluation failed.

use std::fmt;

use cel::ExecutionError;

/// Why a filter is refused when written. Displayed as
/// `line L, column C: <reason>`, both 1-based, in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub line: u32,
    pub column: u32,
    pub reason: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.reason
        )
    }
}

impl std::error::Error for FilterError {}

impl FilterError {
    /// An error at a byte offset of `source` (0-based), as the parser's
    /// source info places nodes.
    pub(super) fn at_byte(source: &str, byte: usize, reason: impl Into<String>) -> Self {
        let mut byte = byte.min(source.len());
        while !source.is_char_boundary(byte) {
            byte -= 1;
        }
        Self::at_offset(source, source[..byte].chars().count(), reason)
    }

    /// An error at a character offset of `source` (0-based).
    pub(super) fn at_offset(source: &str, offset: usize, reason: impl Into<String>) -> Self {
        let (line, column) = line_column(source, offset);
        FilterError {
            line,
            column,
            reason: reason.into(),
        }
    }
}

/// The 1-based line and column of the character at `offset` (0-based,
/// counted in characters).
fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let (mut line, mut column) = (1u32, 1u32);
    for c in source.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Why one evaluation failed: a short reason for people, e.g.
/// `no such key: region`. The caller does not deliver, and counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    reason: String,
}

/// The longest reason kept: the crate's messages can quote values of the
/// event, which may be long.
const MAX_REASON_CHARS: usize = 200;

impl EvalError {
    pub(super) fn new(reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
            reason.truncate(cut);
            reason.push('…');
        }
        EvalError { reason }
    }

    /// The reason, as displayed.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for EvalError {}

impl EvalError {
    /// The common failures in our own words; the crate's text otherwise.
    /// (A function, not a `From`: no `cel` type in this module's API.)
    pub(super) fn from_execution(e: ExecutionError) -> Self {
        match e {
            ExecutionError::NoSuchKey(key) => EvalError::new(format!("no such key: {key}")),
            ExecutionError::IndexOutOfBounds(_) => EvalError::new("list index out of range"),
            ExecutionError::DivisionByZero(_) => EvalError::new("division by zero"),
            ExecutionError::RemainderByZero(_) => EvalError::new("remainder by zero"),
            ExecutionError::NoSuchOverload(overload) => EvalError::new(
                overload
                    .to_string()
                    .replace("found no matching overload for", "wrong types for"),
            ),
            ExecutionError::UnsupportedBinaryOperator(op, lhs, rhs) => EvalError::new(format!(
                "wrong types for '{op}': {} and {} (every JSON number is a double: write 1.0, not 1)",
                kind_name(&lhs),
                kind_name(&rhs)
            )),
            ExecutionError::DuplicateKey(_) => EvalError::new("a map literal repeats a key"),
            other => EvalError::new(other.to_string()),
        }
    }
}

/// The CEL type name of a value, for messages: not the value itself.
fn kind_name(value: &cel::Value) -> &'static str {
    match value {
        cel::Value::List(_) => "list",
        cel::Value::Map(_) => "map",
        cel::Value::Int(_) => "int",
        cel::Value::UInt(_) => "uint",
        cel::Value::Float(_) => "double",
        cel::Value::String(_) => "string",
        cel::Value::Bool(_) => "bool",
        cel::Value::Null => "null",
        cel::Value::Timestamp(_) => "timestamp",
        cel::Value::Duration(_) => "duration",
        _ => "value",
    }
}
