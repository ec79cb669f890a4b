//! The run-time budget. The crate cannot stop an evaluation, so the cost
//! is computed before running: every comprehension goes over a path into
//! the event (or a literal list, see [`super::bounds`]), known once the
//! event is. Its cost, in steps, is the items times its body's size in
//! nodes (each evaluated once per item), plus the JSON nodes of the range
//! (each item is copied into the body's scope, nested values included).
//! A filter over the budget is an evaluation error, and is not run.

use serde_json::Value as Json;

use super::{EvalError, EventView};

/// The most steps one evaluation may take. Measured in release on this
/// project's shared 2-core machine (`timing.rs`), a step costs 15 to 75 ns:
/// 40 to 55 for an `exists` testing a field of 4-field objects (14 steps an
/// item), 73 for 25-field objects (35 steps an item), so the limit keeps
/// one evaluation around 1 ms at worst.
pub const MAX_STEPS: u64 = 15_000;

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
        let (len, nodes) = measure(&range.path, event, MAX_STEPS + 1);
        items = items.saturating_add(len);
        steps = steps
            .saturating_add(len.saturating_mul(range.body_nodes))
            .saturating_add(nodes);
    }
    if steps > MAX_STEPS {
        return Err(EvalError::new(format!(
            "the filter would visit {items} items (over {MAX_STEPS} steps); at most {MAX_STEPS} steps are evaluated"
        )));
    }
    Ok(())
}

/// The items of the range in this event, and its JSON nodes (counted up to
/// `cap`); none when the path leads nowhere or to something that is not a
/// list or a map (evaluation then fails on its own, visiting nothing).
fn measure(path: &RangePath, event: &EventView<'_>, cap: u64) -> (u64, u64) {
    match path {
        RangePath::Literal(n) => (*n, *n),
        // `labels` is a map of strings: only itself can be gone over.
        RangePath::Labels(steps) if steps.is_empty() => {
            let n = event.labels().len() as u64;
            (n, 2 * n)
        }
        RangePath::Labels(_) => (0, 0),
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
                    None => return (0, 0),
                }
            }
            let len = match at {
                Json::Array(items) => items.len() as u64,
                Json::Object(fields) => fields.len() as u64,
                _ => return (0, 0),
            };
            let mut nodes = 0;
            count_nodes(at, cap, &mut nodes);
            (len, nodes)
        }
    }
}

/// Adds the nodes of `json` to `count`, stopping past `cap`: the walk costs
/// a few ns a node, far less than evaluating, and never more than the
/// budget. Event data nests at most 32 levels.
fn count_nodes(json: &Json, cap: u64, count: &mut u64) {
    *count += 1;
    match json {
        Json::Array(items) => {
            for item in items {
                if *count > cap {
                    return;
                }
                count_nodes(item, cap, count);
            }
        }
        Json::Object(fields) => {
            for value in fields.values() {
                if *count > cap {
                    return;
                }
                count_nodes(value, cap, count);
            }
        }
        _ => {}
    }
}
