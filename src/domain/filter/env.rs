//! The one CEL environment of the process, and the compiled patterns of
//! `matches`.
//!
//! The crate's own `matches` (its `regex` feature) compiles the pattern on
//! every call: 9 µs for a short one, 230 µs for a long one, per item of a
//! list. Ours looks the pattern up among those compiled when filters were
//! parsed. A function of the crate is a plain `fn` pointer and cannot
//! capture anything, so the patterns sit in a process-wide map; each
//! [`super::Filter`] holds its patterns (`Arc`), the map only weak
//! references, so it holds what live filters use and no more.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock, Weak};

use cel::common::types::{self, CelBool, CelString};
use cel::common::value::CowVal;
use cel::{Env, ExecutionError};
use regex::{Regex, RegexBuilder};

/// The longest `matches` pattern accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 256;

/// The compiled size a pattern may reach (the `regex` crate's limit): a
/// short pattern such as `\w{100}` repeated compiles to megabytes.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

/// The shared environment: the standard library, the `lowerAscii`,
/// `upperAscii` and `trim` of the strings extension (the parse-time
/// allowlist refuses its other functions), and our `matches`. The
/// optional syntax (`a.?b`) is off: `has()` covers optional fields.
pub(super) static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib().with_optional_support(false);
    env.add_extension(cel::extensions::strings)
        .expect("the strings extension declares nothing twice");
    env.add_member_overload(
        "matches",
        "string_matches_string",
        types::STRING_TYPE,
        vec![types::STRING_TYPE],
        cached_matches,
    )
    .expect("matches is not declared without the regex feature");
    env.add_overload(
        "matches",
        "matches_string_string",
        vec![types::STRING_TYPE, types::STRING_TYPE],
        cached_matches,
    )
    .expect("matches is not declared without the regex feature");
    Arc::new(env)
});

/// Patterns by source text. Dead entries are swept when the map has grown
/// to twice what was alive at the last sweep, so a sweep is amortised O(1).
struct Patterns {
    by_source: HashMap<String, Weak<Regex>>,
    sweep_at: usize,
}

static PATTERNS: LazyLock<RwLock<Patterns>> = LazyLock::new(|| {
    RwLock::new(Patterns {
        by_source: HashMap::new(),
        sweep_at: 64,
    })
});

/// The compiled `pattern`, shared with every filter that uses it; the
/// caller keeps the `Arc` for as long as its filter lives. Refuses a
/// pattern that is too long or that the `regex` crate refuses.
pub(super) fn prepare(pattern: &str) -> Result<Arc<Regex>, String> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!(
            "the pattern is over {MAX_PATTERN_CHARS} characters"
        ));
    }
    if let Some(regex) = lookup(pattern) {
        return Ok(regex);
    }
    let regex = RegexBuilder::new(pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "the pattern compiles too big".to_owned(),
            // The syntax error's last line says what is wrong; the lines
            // before it repeat the pattern with a caret.
            other => format!(
                "invalid pattern: {}",
                other.to_string().lines().last().unwrap_or("").trim()
            ),
        })?;
    let regex = Arc::new(regex);
    let mut patterns = PATTERNS.write().unwrap_or_else(|e| e.into_inner());
    if patterns.by_source.len() >= patterns.sweep_at {
        patterns.by_source.retain(|_, weak| weak.strong_count() > 0);
        patterns.sweep_at = (patterns.by_source.len() * 2).max(64);
    }
    // A concurrent `prepare` may have stored the same pattern: keep the
    // first, so both filters share it.
    let entry = patterns.by_source.entry(pattern.to_owned()).or_default();
    match entry.upgrade() {
        Some(existing) => Ok(existing),
        None => {
            *entry = Arc::downgrade(&regex);
            Ok(regex)
        }
    }
}

fn lookup(pattern: &str) -> Option<Arc<Regex>> {
    PATTERNS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .by_source
        .get(pattern)
        .and_then(Weak::upgrade)
}

/// `s.matches(p)` and `matches(s, p)`: the overloads only take strings,
/// so the downcasts hold. A pattern is always prepared while its filter
/// lives (the parse-time check admits only literal patterns, each
/// prepared); a miss is reported, not compiled here.
fn cached_matches<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = |i: usize| {
        args.get(i)
            .and_then(|v| v.downcast_ref::<CelString>())
            .map(|s| s.inner())
    };
    let (Some(subject), Some(pattern)) = (text(0), text(1)) else {
        return Err(ExecutionError::function_error(
            "matches",
            "expects two strings",
        ));
    };
    let regex = lookup(pattern)
        .ok_or_else(|| ExecutionError::function_error("matches", "the pattern was not prepared"))?;
    Ok(CowVal::owned(CelBool::from(regex.is_match(subject))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_compiled_once_and_shared_while_used() {
        let a = prepare("^shared_[0-9]+$").unwrap();
        let b = prepare("^shared_[0-9]+$").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        assert!(lookup("^shared_[0-9]+$").is_none());
    }

    #[test]
    fn patterns_that_are_too_long_too_big_or_invalid_are_refused() {
        let long = "a".repeat(MAX_PATTERN_CHARS + 1);
        assert_eq!(
            prepare(&long).unwrap_err(),
            "the pattern is over 256 characters"
        );
        assert_eq!(
            prepare(&"\\w{100}".repeat(10)).unwrap_err(),
            "the pattern compiles too big"
        );
        assert!(prepare("(").unwrap_err().starts_with("invalid pattern: "));
    }
}
