//! The run-time budget. The crate cannot stop an evaluation, so the cost
//! is computed before running: every comprehension goes over a path into
//! the event (or a literal list, see [`super::bounds`]), whose length is
//! known once the event is; its cost is that length times its body's size
//! in nodes. A filter over the budget is an evaluation error, and is not
//! run.

use serde_json::Value as Json;

use super::{EvalError, EventView};

/// The most item-steps (items visited times the nodes of the body) one
/// evaluation may take. Measured on this project's 2-core test machine
/// (release): about 40 ns per step for a body testing a field of an
/// object item (`i.sku == "x"`, 9 nodes, 0.35 µs per item), so the limit
/// keeps one evaluation under about 1 ms.
pub const MAX_STEPS: u64 = 25_000;

/// A comprehension's range, as the parse-time walk found it.
#[derive(Debug, Clone)]
pub(super) struct Range {
    pub path: RangePath,
    /// Nodes of the loop condition and step: evaluated once per item.
    pub body_nodes: u64,
}

#[derive(Debug, Clone)]
pub(super) enum RangePath {
    /// A literal list of that many elements.
    Literal(u64),
    /// Fields and indexes from `data`.
    Data(Vec<Step>),
    /// Fields and indexes from `labels`.
    Labels(Vec<Step>),
}

#[derive(Debug, Clone)]
pub(super) enum Step {
    Key(String),
    Index(i64),
}

/// Refuses an evaluation whose comprehensions would take over
/// [`MAX_STEPS`] on this event.
pub(super) fn check(ranges: &[Range], event: &EventView<'_>) -> Result<(), EvalError> {
    let mut items = 0u64;
    let mut steps = 0u64;
    for range in ranges {
        let len = length(&range.path, event);
        items = items.saturating_add(len);
        steps = steps.saturating_add(len.saturating_mul(range.body_nodes));
    }
    if steps > MAX_STEPS {
        return Err(EvalError::new(format!(
            "the filter would visit {items} items ({steps} steps); at most {MAX_STEPS} steps are evaluated"
        )));
    }
    Ok(())
}

/// How many items the range holds in this event; 0 when the path leads
/// nowhere or to something that is not a list or a map (evaluation then
/// fails on its own, without visiting anything).
fn length(path: &RangePath, event: &EventView<'_>) -> u64 {
    match path {
        RangePath::Literal(n) => *n,
        // `labels` is a map of strings: only itself can be gone over.
        RangePath::Labels(steps) if steps.is_empty() => event.labels().len() as u64,
        RangePath::Labels(_) => 0,
        RangePath::Data(steps) => {
            let mut at = event.data();
            for step in steps {
                let next = match (step, at) {
                    (Step::Key(k), Json::Object(fields)) => fields.get(k),
                    (Step::Index(i), Json::Array(items)) => {
                        usize::try_from(*i).ok().and_then(|i| items.get(i))
                    }
                    _ => None,
                };
                match next {
                    Some(value) => at = value,
                    None => return 0,
                }
            }
            match at {
                Json::Array(items) => items.len() as u64,
                Json::Object(fields) => fields.len() as u64,
                _ => 0,
            }
        }
    }
}
