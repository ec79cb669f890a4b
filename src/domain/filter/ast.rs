//! Reading the parsed expression: walking it, and recognising the shapes
//! the rules care about (`map()`, a comprehension's range).

use cel::common::ast::{ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue};

use super::cost::{RangePath, Step};

/// `map()` builds a new list of any values, up to items times the event:
/// its step appends something other than the item itself (`filter()`
/// appends the item).
pub(super) fn is_map(c: &ComprehensionExpr) -> bool {
    let appends_other = |step: &IdedExpr| match &step.expr {
        Expr::Call(add) if add.func_name == "_+_" => match add.args.get(1).map(|a| &a.expr) {
            Some(Expr::List(l)) => !matches!(l.elements.as_slice(),
                [only] if matches!(&only.expr, Expr::Ident(n) if *n == c.iter_var)),
            _ => false,
        },
        _ => false,
    };
    if !matches!(c.accu_init.expr, Expr::List(_)) {
        return false;
    }
    match &c.loop_step.expr {
        Expr::Call(cond) if cond.func_name == "_?_:_" => {
            cond.args.get(1).is_some_and(appends_other)
        }
        _ => appends_other(&c.loop_step),
    }
}

/// The range of a comprehension as a path into the event, or a literal
/// list's length; `None` for anything else.
pub(super) fn range_path(e: &IdedExpr) -> Option<RangePath> {
    if let Expr::List(list) = &e.expr {
        return Some(RangePath::Literal(list.elements.len() as u64));
    }
    let mut steps = Vec::new();
    let mut at = e;
    let root = loop {
        match &at.expr {
            Expr::Ident(name) => break name.as_str(),
            Expr::Select(s) if !s.test => {
                steps.push(Step::Key(s.field.clone()));
                at = &s.operand;
            }
            Expr::Call(c) if c.func_name == "_[_]" && c.target.is_none() && c.args.len() == 2 => {
                steps.push(match &c.args[1].expr {
                    Expr::Literal(LiteralValue::String(k)) => Step::Key(k.inner().to_owned()),
                    Expr::Literal(LiteralValue::Int(i)) => Step::Index(*i.inner()),
                    Expr::Literal(LiteralValue::UInt(u)) => {
                        Step::Index(i64::try_from(*u.inner()).ok()?)
                    }
                    _ => return None,
                });
                at = &c.args[0];
            }
            _ => return None,
        }
    };
    steps.reverse();
    match root {
        "data" => Some(RangePath::Data(steps)),
        "labels" => Some(RangePath::Labels(steps)),
        _ => None,
    }
}

/// Calls `f` on `e` and every node below it.
pub(super) fn visit(e: &IdedExpr, f: &mut impl FnMut(&IdedExpr)) {
    f(e);
    match &e.expr {
        Expr::Call(c) => {
            c.target.iter().for_each(|t| visit(t, f));
            c.args.iter().for_each(|a| visit(a, f));
        }
        Expr::Select(s) => visit(&s.operand, f),
        Expr::List(l) => l.elements.iter().for_each(|x| visit(x, f)),
        Expr::Map(m) => m.entries.iter().for_each(|entry| {
            if let EntryExpr::MapEntry(me) = &entry.expr {
                visit(&me.key, f);
                visit(&me.value, f);
            }
        }),
        Expr::Comprehension(c) => {
            for x in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                visit(x, f);
            }
        }
        Expr::Literal(_) | Expr::Ident(_) | Expr::Struct(_) | Expr::Unspecified => {}
    }
}

pub(super) fn count_nodes(e: &IdedExpr) -> usize {
    let mut n = 0;
    visit(e, &mut |_| n += 1);
    n
}
