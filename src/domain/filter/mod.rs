//! A webhook's filter: a CEL expression (the Common Expression Language)
//! over one event, parsed and bounded when written, evaluated per event.
//!
//! A filter sees four names: `type` (the event type, a string), `labels`
//! (a map of strings), `data` (the event's JSON) and `organization_id`
//! (a string). It must give `true` (deliver) or `false` (don't); anything
//! else, and every failure, is an evaluation error: not delivered, counted,
//! never an error for the publisher.
//!
//! # Numbers
//! Every JSON number in `data` is a CEL `double`, as the CEL specification
//! maps JSON (the same for `1200` and `1200.5`, so a filter does not work
//! for some events and fail for others). Comparisons mix number types
//! freely: `data.amount > 1000` and `data.count == 3` work. Arithmetic does
//! not: `data.count + 1` is an error, write `data.count + 1.0`;
//! `int(data.count) == 3` works.
//!
//! # Bounds
//! The crate (cel-rust) has no type checker and no evaluation budget, so:
//! - when written, [`bounds`] walks the expression and refuses it, at the
//!   offending node's position, unless what an evaluation can cost is
//!   bounded (size, names, a function allowlist, at most 3 un-nested
//!   comprehensions over paths into the event, literal `matches` patterns);
//! - before each evaluation, [`cost`] measures the lists the comprehensions
//!   go over in this event and refuses over [`MAX_STEPS`] steps (items
//!   times body size, plus the lists' JSON nodes), about 1 ms;
//! - parsing runs on a thread of its own with a large stack: the ANTLR
//!   parser recurses deeply (see `parse_deep`).
//!
//! The `cel` crate does not leak out of this module: no `cel::` type is in
//! a public signature.

mod ast;
mod bounds;
mod cache;
mod cost;
mod env;
mod error;
mod event;
mod rules;

#[cfg(test)]
mod docs_check;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod timing;

use std::fmt;
use std::sync::Arc;

use cel::common::ast::{IdedExpr, SourceInfo};
use cel::{ParseErrors, Value};
use regex::Regex;

pub use cache::FilterCache;
pub use cost::MAX_STEPS;
pub use env::MAX_PATTERN_CHARS;
pub use error::{EvalError, FilterError};
pub use event::EventView;
pub use rules::{MAX_COMPREHENSIONS, MAX_DEPTH, MAX_NODES, MAX_PLUS, VARIABLES};

/// The longest filter accepted, in characters.
pub const MAX_FILTER_CHARS: usize = 1024;

/// A webhook's filter: a CEL expression over `type`, `labels`, `data` and
/// `organization_id`, parsed, checked against the bounds, compiled. Cheap
/// to clone (an `Arc`).
#[derive(Clone)]
pub struct Filter {
    compiled: Arc<Compiled>,
}

struct Compiled {
    source: String,
    expr: IdedExpr,
    ranges: Vec<cost::Range>,
    /// Held so that the process-wide pattern map keeps them (it only has
    /// weak references).
    _patterns: Vec<Arc<Regex>>,
}

impl Filter {
    /// Compiles `source` (non-empty; the caller treats "" as "no filter").
    pub fn parse(source: &str) -> Result<Filter, FilterError> {
        if source.trim().is_empty() {
            return Err(FilterError::at_offset(source, 0, "the filter is empty"));
        }
        if source.chars().count() > MAX_FILTER_CHARS {
            return Err(FilterError::at_offset(
                source,
                MAX_FILTER_CHARS,
                format!("the filter is over {MAX_FILTER_CHARS} characters"),
            ));
        }
        let (expr, info) = parse_deep(source).map_err(|e| syntax_error(source, &e))?;
        let checked = bounds::check(&expr, &info, source)?;
        Ok(Filter {
            compiled: Arc::new(Compiled {
                source: source.to_owned(),
                expr,
                ranges: checked.ranges,
                _patterns: checked.patterns,
            }),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.compiled.source
    }

    /// Ok(true) = deliver, Ok(false) = no match, Err = evaluation error (a
    /// missing key, a type mismatch, a non-bool result, the cost limit):
    /// the caller counts it and does not deliver.
    pub fn matches(&self, event: &EventView<'_>) -> Result<bool, EvalError> {
        cost::check(&self.compiled.ranges, event)?;
        match Value::resolve(&self.compiled.expr, event.context()) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(EvalError::new(format!(
                "the filter gave {}, not true or false",
                describe(&other)
            ))),
            Err(e) => Err(EvalError::from_execution(e)),
        }
    }

    #[cfg(test)]
    fn same_compiled(&self, other: &Filter) -> bool {
        Arc::ptr_eq(&self.compiled, &other.compiled)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Filter").field(&self.source()).finish()
    }
}

/// The stack a parse gets. The ANTLR parser takes about 170 KiB of stack
/// per level of nesting in a debug build (less in release): at the limit
/// of [`MAX_DEPTH`] levels, more than the 2 MiB of a tokio worker, so a
/// deep filter would abort the process. A thread of its own, with room for
/// four times the limit in debug, costs some 20 µs on a parse that takes
/// 10 to 30 µs, and parses happen when filters are written and on cache
/// misses only.
const PARSE_STACK_BYTES: usize = 16 << 20;

/// The nesting a parse on the caller's stack allows, when no thread can be
/// started (2 MiB hold 10 levels in a debug build).
const SHALLOW_DEPTH: u16 = 8;

/// Parses `source` on a thread with a large stack, the parser bounded to
/// [`MAX_DEPTH`] levels; on the caller's thread to a shallower depth if no
/// thread can be started.
fn parse_deep(source: &str) -> Result<(IdedExpr, SourceInfo), ParseErrors> {
    let parse = |depth: u16| {
        env::ENV
            .parser()
            .max_recursion_depth(depth)
            .parse_with_source_info(source)
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("filter-parse".to_owned())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(scope, || parse(MAX_DEPTH as u16));
        match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => parse(SHALLOW_DEPTH),
        }
    })
}

/// The parser's first error at its position, without the ANTLR list of
/// every token it expected.
fn syntax_error(source: &str, errors: &ParseErrors) -> FilterError {
    let Some(first) = errors.errors.first() else {
        return FilterError::at_offset(source, 0, "syntax error");
    };
    let msg = first.msg.trim_start_matches("Syntax error: ");
    let msg = msg.split(" expecting").next().unwrap_or(msg).trim();
    let reason = if msg.contains("Recursion limit of") {
        format!("the filter nests over {MAX_DEPTH} levels of parentheses and calls")
    } else if msg.starts_with("mismatched input '<EOF>'") {
        "the filter ends too early: expected an expression".to_owned()
    } else if let Some(rest) = msg.strip_prefix("token recognition error at: ") {
        format!("unexpected character in {rest}")
    } else if let Some(rest) = msg
        .strip_prefix("mismatched input ")
        .or_else(|| msg.strip_prefix("extraneous input "))
    {
        format!("unexpected {rest}")
    } else if let Some(rest) = msg.strip_prefix("no viable alternative at input ") {
        format!("cannot read {rest}")
    } else {
        msg.to_owned()
    };
    FilterError {
        line: u32::try_from(first.pos.0).unwrap_or(1).max(1),
        column: u32::try_from(first.pos.1).unwrap_or(1).max(1),
        reason,
    }
}

/// The kind of a non-bool result, for the error.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Null => "null",
        Value::Timestamp(_) => "a timestamp",
        Value::Duration(_) => "a duration",
        _ => "a value of another type",
    }
}
