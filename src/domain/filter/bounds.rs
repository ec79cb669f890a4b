//! The parse-time rules: cel-rust has no type checker and no evaluation
//! budget, so a filter is walked once when written and refused, at the
//! position of the offending node, unless what it can cost is bounded.
//!
//! Outside `exists()`, `all()`, `exists_one()` and `filter()` every node is
//! evaluated once, so the work is at most the node count times the event's
//! size. Inside them, a body runs once per item: it may not nest another
//! one, and the operations whose cost grows with an operand (string
//! functions, `+`, conversions, `in`, comparisons) must have the item or a
//! literal as that operand, so that a step costs about the size of an item.
//! What is left, items times body size plus the copies of the items, is
//! checked per event by [`super::cost`] before evaluating.

use std::sync::Arc;

use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SourceInfo,
};
use regex::Regex;

use super::FilterError;
use super::ast::{count_nodes, is_map, range_path, visit};
use super::cost::Range;
use super::env;
use super::rules::{
    COMPARISONS, MAX_COMPREHENSIONS, MAX_DEPTH, MAX_NODES, MAX_PLUS, VARIABLES, allowed,
    display_name, linear, never_bool,
};
/// What the walk found that evaluation needs.
pub(super) struct Checked {
    pub ranges: Vec<Range>,
    pub patterns: Vec<Arc<Regex>>,
}

/// Walks `root` (parsed from `source`, with `info` placing its nodes) and
/// refuses it unless every rule holds.
pub(super) fn check(
    root: &IdedExpr,
    info: &SourceInfo,
    source: &str,
) -> Result<Checked, FilterError> {
    let mut walker = Walker {
        source,
        info,
        ancestors: Vec::new(),
        nodes: 0,
        comprehensions: 0,
        pluses: 0,
        bound: Vec::new(),
        in_body: false,
        checked: Checked {
            ranges: Vec::new(),
            patterns: Vec::new(),
        },
    };
    walker.walk(root, 1)?;
    if let Some(kind) = never_bool(root) {
        return Err(walker.error(
            root.id,
            format!("a filter must give true or false, not {kind}"),
        ));
    }
    Ok(walker.checked)
}

struct Walker<'s> {
    source: &'s str,
    info: &'s SourceInfo,
    /// The ids from the root to the node being walked: a node without a
    /// position is reported at its nearest ancestor that has one.
    ancestors: Vec<u64>,
    nodes: usize,
    comprehensions: usize,
    pluses: usize,
    /// The variables the enclosing comprehension binds.
    bound: Vec<String>,
    in_body: bool,
    checked: Checked,
}

impl Walker<'_> {
    fn error(&self, id: u64, reason: impl Into<String>) -> FilterError {
        let info = self.info;
        let offset = std::iter::once(id)
            .chain(self.ancestors.iter().rev().copied())
            .find_map(|id| info.offset_for(id))
            .map_or(0, |(start, _)| start as usize);
        FilterError::at_byte(self.source, offset, reason)
    }

    /// An error about a whole operand: at its first character, not at its
    /// top node (the parser places a call at its operator, a field
    /// selection at its dot).
    fn error_at_start(&self, e: &IdedExpr, reason: impl Into<String>) -> FilterError {
        let info = self.info;
        let mut start = None;
        visit(e, &mut |x| {
            if let Some((s, _)) = info.offset_for(x.id) {
                start = Some(start.map_or(s, |m: u32| m.min(s)));
            }
        });
        match start {
            Some(s) => FilterError::at_byte(self.source, s as usize, reason),
            None => self.error(e.id, reason),
        }
    }

    /// An error about a function: at its name. The parser places a call
    /// at its `(`, which follows the name.
    fn error_at_name(&self, id: u64, name: &str, reason: String) -> FilterError {
        let mut error = self.error(id, reason);
        if let Some((paren, _)) = self.info.offset_for(id) {
            let before = self.source.get(..paren as usize).unwrap_or("").trim_end();
            if before.ends_with(name) {
                error = FilterError::at_byte(self.source, before.len() - name.len(), error.reason);
            }
        }
        error
    }

    fn walk(&mut self, e: &IdedExpr, depth: usize) -> Result<(), FilterError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(
                e.id,
                format!("the filter is too long: over {MAX_NODES} parts"),
            ));
        }
        if depth > MAX_DEPTH {
            return Err(self.error(e.id, format!("the filter nests over {MAX_DEPTH} levels")));
        }
        self.ancestors.push(e.id);
        let walked = self.walk_kind(e, depth + 1);
        self.ancestors.pop();
        walked
    }

    fn walk_kind(&mut self, e: &IdedExpr, depth: usize) -> Result<(), FilterError> {
        match &e.expr {
            Expr::Literal(_) => Ok(()),
            Expr::Ident(name) => {
                if self.bound.iter().any(|b| b == name) || VARIABLES.contains(&name.as_str()) {
                    Ok(())
                } else {
                    Err(self.error(e.id, format!(
                        "unknown name '{name}': a filter can use type, labels, data and organization_id"
                    )))
                }
            }
            Expr::Select(select) => self.walk(&select.operand, depth),
            // A literal built per item copies what it holds: the event's
            // own values would be copied once per item.
            Expr::List(_) | Expr::Map(_) if self.in_body && self.global_in(e).is_some() => {
                Err(self.error(e.id, format!(
                    "inside exists(), all(), exists_one() and filter(), a list or map literal holds only the item and literals, not {}",
                    self.global_in(e).unwrap_or_default()
                )))
            }
            Expr::List(list) => list.elements.iter().try_for_each(|x| self.walk(x, depth)),
            Expr::Map(map) => map.entries.iter().try_for_each(|entry| match &entry.expr {
                EntryExpr::MapEntry(m) => {
                    self.walk(&m.key, depth)?;
                    self.walk(&m.value, depth)
                }
                EntryExpr::StructField(_) => Err(self.error(entry.id, "unexpected field")),
            }),
            Expr::Struct(_) => Err(self.error(e.id, "message literals are not supported")),
            Expr::Call(call) => self.call(e.id, call, depth),
            Expr::Comprehension(c) => self.comprehension(e.id, c, depth),
            Expr::Unspecified => Err(self.error(e.id, "unsupported expression")),
        }
    }

    fn call(&mut self, id: u64, call: &CallExpr, depth: usize) -> Result<(), FilterError> {
        let name = call.func_name.as_str();
        if !allowed(name) {
            return Err(self.error_at_name(
                id,
                name,
                format!("'{name}' is not a function filters can use"),
            ));
        }
        if name == "matches" {
            let pattern = if call.target.is_some() {
                call.args.first()
            } else {
                call.args.get(1)
            };
            match pattern {
                Some(IdedExpr {
                    expr: Expr::Literal(LiteralValue::String(p)),
                    ..
                }) => {
                    let regex = env::prepare(p.inner())
                        .map_err(|reason| self.error_at_start(pattern.expect("matched"), reason))?;
                    self.checked.patterns.push(regex);
                }
                Some(other) => {
                    return Err(self.error_at_start(
                        other,
                        "the pattern of matches() must be a string literal",
                    ));
                }
                None => return Err(self.error(id, "matches() takes a pattern")),
            }
        }
        // The `+` of the macros (exists_one's count) adds to the accumulator.
        if name == "_+_" && !call.args.first().is_some_and(|a| self.is_accumulator(a)) {
            self.pluses += 1;
            if self.pluses > MAX_PLUS {
                return Err(self.error(id, format!("a filter may use + at most {MAX_PLUS} times")));
            }
        }
        if self.in_body {
            self.check_body_call(id, call)?;
        }
        if let Some(target) = &call.target {
            self.walk(target, depth)?;
        }
        call.args.iter().try_for_each(|a| self.walk(a, depth))
    }

    /// The per-item rules of a comprehension body (see the module doc).
    fn check_body_call(&self, id: u64, call: &CallExpr) -> Result<(), FilterError> {
        let name = call.func_name.as_str();
        let operands: Vec<&IdedExpr> = call
            .target
            .as_deref()
            .into_iter()
            .chain(&call.args)
            .collect();
        let shown = display_name(name);
        let linear_global = linear(name)
            .then(|| operands.iter().find_map(|o| self.global_in(o)))
            .flatten();
        if let Some(global) = linear_global {
            return Err(self.error(id, format!(
                "inside exists(), all(), exists_one() and filter(), {shown} applies only to the item and literals, not to {global}"
            )));
        }
        if name == "@in" {
            let container = call.args.get(1);
            let is_labels =
                container.is_some_and(|c| matches!(&c.expr, Expr::Ident(n) if n == "labels"));
            if let Some(global) = container
                .and_then(|c| self.global_in(c))
                .filter(|_| !is_labels)
            {
                return Err(self.error(id, format!(
                    "inside exists(), all(), exists_one() and filter(), 'in' looks only into labels, the item and literal lists, not into {global}"
                )));
            }
        }
        if COMPARISONS.contains(&name) && operands.iter().all(|o| self.global_in(o).is_some()) {
            return Err(self.error(id, format!(
                "inside exists(), all(), exists_one() and filter(), {shown} needs the item or a literal on one side (compare the event's own fields outside)"
            )));
        }
        Ok(())
    }

    fn comprehension(
        &mut self,
        id: u64,
        c: &ComprehensionExpr,
        depth: usize,
    ) -> Result<(), FilterError> {
        if self.in_body {
            return Err(self.error(
                id,
                "exists(), all(), exists_one() and filter() cannot be nested",
            ));
        }
        if c.iter_var2.is_some() {
            return Err(self.error(id, "two-variable comprehensions are not supported"));
        }
        if is_map(c) {
            return Err(self.error(
                id,
                "map() is not supported: use exists(), all(), exists_one() or filter()",
            ));
        }
        self.comprehensions += 1;
        if self.comprehensions > MAX_COMPREHENSIONS {
            return Err(self.error(id, format!(
                "a filter may use exists(), all(), exists_one() and filter() at most {MAX_COMPREHENSIONS} times"
            )));
        }
        let path = range_path(&c.iter_range).ok_or_else(|| {
            self.error_at_start(&c.iter_range, "exists(), all(), exists_one() and filter() go over a field of data or labels, or a literal list")
        })?;
        self.walk(&c.iter_range, depth)?;
        self.checked.ranges.push(Range {
            path,
            body_nodes: (count_nodes(&c.loop_cond) + count_nodes(&c.loop_step)) as u64,
        });
        self.bound = vec![c.iter_var.clone(), c.accu_var.clone()];
        self.in_body = true;
        let walked = [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result]
            .into_iter()
            .try_for_each(|x| self.walk(x, depth));
        self.bound.clear();
        self.in_body = false;
        walked
    }

    fn is_accumulator(&self, e: &IdedExpr) -> bool {
        matches!(&e.expr, Expr::Ident(n) if n.starts_with('@'))
    }

    /// The first event variable `e` refers to, quoted, if any: inside a
    /// body, everything else it names is bound by the comprehension.
    fn global_in(&self, e: &IdedExpr) -> Option<String> {
        let mut found = None;
        visit(e, &mut |x| {
            if let Expr::Ident(n) = &x.expr
                && found.is_none()
                && !self.bound.contains(n)
            {
                found = Some(format!("'{n}'"));
            }
        });
        found
    }
}
