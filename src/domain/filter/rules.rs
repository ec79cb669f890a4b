//! The limits and the tables of the parse-time rules (see [`super::bounds`]).

use cel::common::ast::{Expr, IdedExpr, LiteralValue};

/// The most AST nodes a filter may have (macros expanded): usual filters
/// have 9 to 30.
pub const MAX_NODES: usize = 200;
/// The deepest nesting of the AST.
pub const MAX_DEPTH: usize = 24;
/// The most comprehensions (`exists`, `all`, `exists_one`, `filter`).
pub const MAX_COMPREHENSIONS: usize = 3;
/// The most `+` a filter may write: a chain of string concatenations costs
/// the square of its length times the strings' size.
pub const MAX_PLUS: usize = 4;

/// The names a filter can refer to.
pub const VARIABLES: [&str; 4] = ["type", "labels", "data", "organization_id"];

/// The functions and operators a filter may call, by group. Everything
/// else is refused: notably `replace`, `split`, `join`, `format`,
/// `indexOf`, `substring` and `map()`, which can build values far larger
/// than the event, and `type()`, which would shadow the `type` variable.
const LOGIC: &[&str] = &["_&&_", "_||_", "!_", "_?_:_", "@not_strictly_false"];
/// Comparisons: linear in the smaller operand, so one side must be the item
/// or a literal inside a body.
pub(super) const COMPARISONS: &[&str] = &["_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"];
const ARITHMETIC: &[&str] = &["_+_", "_-_", "_*_", "_/_", "_%_", "-_"];
const ACCESS: &[&str] = &["_[_]", "@in"];
/// String functions that give a bool.
const STRING_TESTS: &[&str] = &["startsWith", "endsWith", "contains", "matches"];
/// String functions (and `size`) that give something else.
const STRING_VALUES: &[&str] = &["size", "lowerAscii", "upperAscii", "trim"];
/// Conversions, all but `bool` giving something else.
const CONVERSIONS: &[&str] = &[
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "timestamp",
    "duration",
];
const TIMESTAMP_GETTERS: &[&str] = &[
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

fn any_of(groups: &[&[&str]], name: &str) -> bool {
    groups.iter().any(|group| group.contains(&name))
}

/// Whether a filter may call `name`.
pub(super) fn allowed(name: &str) -> bool {
    any_of(
        &[
            LOGIC,
            COMPARISONS,
            ARITHMETIC,
            ACCESS,
            STRING_TESTS,
            STRING_VALUES,
            CONVERSIONS,
            TIMESTAMP_GETTERS,
        ],
        name,
    )
}

/// Whether the cost of `name` grows with the size of an operand: inside a
/// body, its operands must come from the item or literals.
pub(super) fn linear(name: &str) -> bool {
    name == "_+_" || any_of(&[STRING_TESTS, STRING_VALUES, CONVERSIONS], name)
}

/// Whether `name` never gives a bool: a filter made of such a call is
/// refused.
fn never_gives_bool(name: &str) -> bool {
    name != "bool"
        && any_of(
            &[ARITHMETIC, STRING_VALUES, CONVERSIONS, TIMESTAMP_GETTERS],
            name,
        )
}

/// How people write an operator.
pub(super) fn display_name(name: &str) -> String {
    match name {
        "@in" => "'in'".to_owned(),
        n if n.starts_with('_') || n.ends_with('_') => format!("'{}'", n.trim_matches('_')),
        n => format!("{n}()"),
    }
}

/// What `root` gives when it obviously is not a bool.
pub(super) fn never_bool(root: &IdedExpr) -> Option<&'static str> {
    match &root.expr {
        Expr::Literal(LiteralValue::Boolean(_)) => None,
        Expr::Literal(LiteralValue::String(_)) => Some("a string"),
        Expr::Literal(LiteralValue::Null) => Some("null"),
        Expr::Literal(_) => Some("a number"),
        Expr::List(_) => Some("a list"),
        Expr::Map(_) => Some("a map"),
        Expr::Comprehension(c) if matches!(c.accu_init.expr, Expr::List(_)) => Some("a list"),
        Expr::Call(c) if never_gives_bool(&c.func_name) => Some("a value of another type"),
        _ => None,
    }
}
