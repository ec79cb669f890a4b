//! The rules, one test each: what is refused where, and how evaluation
//! answers.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::*;

/// Runs `f` on a thread with a tokio worker's stack (2 MiB).
fn on_a_workers_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn eval(source: &str, data: &Json) -> Result<bool, EvalError> {
    let labels = labels(&[("region", "eu"), ("vip", "yes")]);
    let view = EventView::new("org_42", "member.added", &labels, data);
    Filter::parse(source).unwrap().matches(&view)
}

/// The error as "line:column reason".
fn refused(source: &str) -> String {
    let e = Filter::parse(source).expect_err(source);
    format!("{}:{} {}", e.line, e.column, e.reason)
}

#[test]
fn plain_filters_match_or_not() {
    let data = json!({"amount": 1200, "customer": {"email": "ann@example.com"}});
    assert_eq!(
        eval(r#"type == "member.added" && labels.region == "eu""#, &data),
        Ok(true)
    );
    assert_eq!(eval(r#"labels.region == "us""#, &data), Ok(false));
    assert_eq!(eval("data.amount > 1000", &data), Ok(true));
    assert_eq!(eval("data.amount == 1200", &data), Ok(true));
    assert_eq!(eval("int(data.amount) == 1200", &data), Ok(true));
    assert_eq!(eval("data.amount + 1.0 > 1200.5", &data), Ok(true));
    assert_eq!(
        eval(r#"organization_id.matches("^org_[0-9]+$")"#, &data),
        Ok(true)
    );
    assert_eq!(eval(r#"matches(organization_id, "^x")"#, &data), Ok(false));
    assert_eq!(
        eval(
            r#"has(data.customer.email) && !has(data.customer.phone)"#,
            &data
        ),
        Ok(true)
    );
    assert_eq!(
        eval(r#""vip" in labels && !("tier" in labels)"#, &data),
        Ok(true)
    );
    assert_eq!(
        eval(
            r#"data.customer.email.lowerAscii().endsWith("@example.com")"#,
            &data
        ),
        Ok(true)
    );
}

#[test]
fn evaluation_errors_are_errors_not_false() {
    let data = json!({"amount": 1200, "name": "Ann"});
    assert_eq!(
        eval("data.missing == 1", &data).unwrap_err().reason(),
        "no such key: missing"
    );
    assert_eq!(
        eval(r#"labels.tier == "gold""#, &data)
            .unwrap_err()
            .reason(),
        "no such key: tier"
    );
    assert!(
        eval("data.amount + 1 > 0", &data)
            .unwrap_err()
            .reason()
            .contains("write 1.0")
    );
    assert!(
        eval("data.name > 3", &data)
            .unwrap_err()
            .reason()
            .starts_with("wrong types for '_>_'")
    );
    assert_eq!(
        eval("data.amount > 1000 ? data.amount : false", &data)
            .unwrap_err()
            .reason(),
        "the filter gave a number, not true or false"
    );
    // `||` and `&&` absorb an error when the other side decides.
    assert_eq!(eval("data.missing == 1 || true", &data), Ok(true));
}

#[test]
fn syntax_errors_give_the_parsers_position_and_a_short_reason() {
    assert_eq!(
        refused("type == "),
        "1:9 the filter ends too early: expected an expression"
    );
    assert_eq!(refused("data.amount >> 1"), "1:14 unexpected '>'");
    assert_eq!(
        refused("type == \"x\" &&\n  labels.region = \"eu\""),
        "2:17 unexpected character in '= '"
    );
    assert_eq!(refused("   "), "1:1 the filter is empty");
    let long = format!("type == \"{}\"", "x".repeat(MAX_FILTER_CHARS));
    assert_eq!(refused(&long), "1:1025 the filter is over 1024 characters");
}

#[test]
fn unknown_names_and_functions_are_refused_where_written() {
    assert_eq!(
        refused("type == \"a\" && region == \"eu\""),
        "1:16 unknown name 'region': a filter can use type, labels, data and organization_id"
    );
    assert_eq!(
        refused("data.s.replace('a', 'b') == ''"),
        "1:8 'replace' is not a function filters can use"
    );
    assert_eq!(
        refused("nosuchfn(1) == 1"),
        "1:1 'nosuchfn' is not a function filters can use"
    );
    assert_eq!(
        refused("data.items.exists(i)"),
        "1:12 'exists' is not a function filters can use"
    );
    assert_eq!(
        refused("type(data) == map"),
        "1:1 'type' is not a function filters can use"
    );
}

#[test]
fn positions_count_characters_not_bytes() {
    assert_eq!(
        refused("labels.r == 'é' && nope"),
        "1:20 unknown name 'nope': a filter can use type, labels, data and organization_id"
    );
    // The parser's own positions too.
    assert_eq!(
        refused("labels.r == 'é' &&"),
        "1:19 the filter ends too early: expected an expression"
    );
}

#[test]
fn comprehensions_are_bounded_when_written() {
    assert_eq!(
        refused("data.items.map(i, i.qty).size() > 0"),
        "1:15 map() is not supported: use exists(), all(), exists_one() or filter()"
    );
    assert_eq!(
        refused("data.a.exists(x, data.b.exists(y, x == y))"),
        "1:31 exists(), all(), exists_one() and filter() cannot be nested"
    );
    assert_eq!(
        refused(
            "data.a.all(x, x > 0.0) && data.b.all(x, x > 0.0) && data.c.all(x, x > 0.0) && data.d.all(x, x > 0.0)"
        ),
        "1:89 a filter may use exists(), all(), exists_one() and filter() at most 3 times"
    );
    assert_eq!(
        refused("(data.a + data.b).exists(x, x > 1.0)"),
        "1:2 exists(), all(), exists_one() and filter() go over a field of data or labels, or a literal list"
    );
    // Per-item work proportional to the event, not to the item.
    assert_eq!(
        refused("data.items.exists(i, data.blob.contains(i.sku))"),
        "1:40 inside exists(), all(), exists_one() and filter(), contains() applies only to the item and literals, not to 'data'"
    );
    assert_eq!(
        refused("data.items.exists(i, i.sku in data.skus)"),
        "1:28 inside exists(), all(), exists_one() and filter(), 'in' looks only into labels, the item and literal lists, not into 'data'"
    );
    assert_eq!(
        refused("data.items.exists(i, data.a == data.b)"),
        "1:29 inside exists(), all(), exists_one() and filter(), '==' needs the item or a literal on one side (compare the event's own fields outside)"
    );
    assert_eq!(
        refused("data.items.exists(i, [data.all] == [i])"),
        "1:22 inside exists(), all(), exists_one() and filter(), a list or map literal holds only the item and literals, not 'data'"
    );
    // What stays allowed.
    for ok in [
        "data.items.exists(i, i.sku.startsWith('X') && i.qty > data.min)",
        "data.items.filter(i, i.qty > 1.0).size() > 1",
        "data.items.exists_one(i, i.sku == 'X1')",
        "labels.exists(k, k.startsWith('team_'))",
        "['eu', 'us'].exists(r, labels.region == r)",
        "data.items.all(i, i.region in labels)",
        "data['line-items'][0].tags.exists(t, t == 'x')",
        "data.items.exists(i, [i.a, 'b'] == ['a', 'b'])",
    ] {
        Filter::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn size_depth_and_plus_are_bounded() {
    let wide = vec!["data.a==1.0"; 45].join("||");
    assert!(
        refused(&wide).ends_with("the filter is too long: over 200 parts"),
        "{}",
        refused(&wide)
    );
    let deep = format!("{}true{}", "!(".repeat(30), ")".repeat(30));
    assert_eq!(
        refused(&deep),
        "1:51 the filter nests over 24 levels of parentheses and calls"
    );
    let long_chain = format!("data.a{} > 0.0", " - data.a".repeat(30));
    assert!(
        refused(&long_chain).ends_with("the filter nests over 24 levels"),
        "{}",
        refused(&long_chain)
    );
    let plus = format!("data.s{} == ''", " + data.s".repeat(MAX_PLUS + 1));
    assert!(refused(&plus).ends_with("a filter may use + at most 4 times"));
}

#[test]
fn matches_needs_a_literal_pattern_that_compiles_small() {
    assert_eq!(
        refused("type.matches(data.pattern)"),
        "1:14 the pattern of matches() must be a string literal"
    );
    assert_eq!(
        refused("type.matches('(')").split_once(' ').unwrap().0,
        "1:14"
    );
    assert!(refused("type.matches('(')").contains("invalid pattern: "));
    let big = format!("type.matches(r'{}')", "\\w{100}".repeat(10));
    assert_eq!(refused(&big), "1:14 the pattern compiles too big");
    let long = format!("type.matches('{}')", "a".repeat(MAX_PATTERN_CHARS + 1));
    assert_eq!(refused(&long), "1:14 the pattern is over 256 characters");
}

#[test]
fn obvious_non_bool_filters_are_refused() {
    assert_eq!(
        refused("1 + 2"),
        "1:3 a filter must give true or false, not a value of another type"
    );
    assert_eq!(
        refused("'yes'"),
        "1:1 a filter must give true or false, not a string"
    );
    assert_eq!(
        refused("data.items.filter(i, true)"),
        "1:18 a filter must give true or false, not a list"
    );
}

#[test]
fn the_run_time_budget_refuses_a_large_list_without_evaluating() {
    let items: Vec<Json> = (0..10_000)
        .map(|i| json!({"sku": format!("S{i:05}")}))
        .collect();
    let data = json!({"items": items, "few": [1, 2, 3]});
    let err = eval("data.items.exists(i, i.sku == 'nope')", &data).unwrap_err();
    assert_eq!(
        err.reason(),
        format!(
            "the filter would visit 10000 items (over {MAX_STEPS} steps); at most {MAX_STEPS} steps are evaluated"
        )
    );
    // Few items, each large: the copies of the items count.
    let fat: Vec<Json> = (0..10).map(|_| json!({"tags": vec!["t"; 5_000]})).collect();
    let fat = json!({"items": fat});
    let err = eval("data.items.exists(i, has(i.nope))", &fat).unwrap_err();
    assert!(
        err.reason().starts_with("the filter would visit 10 items"),
        "{err}"
    );
    // The same filter runs on a short list, and a missing path costs nothing.
    assert_eq!(eval("data.few.exists(i, i == 2.0)", &data), Ok(true));
    assert_eq!(
        eval("data.none.exists(i, i == 2.0)", &data)
            .unwrap_err()
            .reason(),
        "no such key: none"
    );
}

#[test]
fn filters_and_views_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Filter>();
    send_sync::<FilterCache>();
    send_sync::<EventView<'static>>();
}

/// The parser needs about 170 KiB of stack per level in a debug build: a
/// filter at the limit parsed on a tokio worker's 2 MiB would abort the
/// process. This runs on such a stack.
#[test]
fn a_filter_nested_to_the_limit_parses_and_evaluates_on_a_small_stack() {
    let run = || {
        let nested = format!("{}data.a > 0.0{}", "!(".repeat(20), ")".repeat(20));
        let data = json!({"a": 1});
        assert_eq!(eval(&nested, &data), Ok(true));
        let calls = format!("{}data.s{} == 'x'", "string(".repeat(20), ")".repeat(20));
        assert_eq!(eval(&calls, &json!({"s": "x"})), Ok(true));
        let deeper = format!("{}true{}", "!(".repeat(200), ")".repeat(200));
        assert!(Filter::parse(&deeper).is_err());
    };
    on_a_workers_stack(run);
}

/// Long chains nest the AST without nesting the parser: selections and
/// indexes within the length limit are refused without exhausting a
/// worker's stack; repeated unary operators fold into one.
#[test]
fn long_chains_are_refused_on_a_small_stack() {
    let run = || {
        for chain in [
            format!("data{} == 1.0", ".a".repeat(500)),
            format!("data{} == 1.0", "[0]".repeat(330)),
            format!("data.items.exists(i, i{} == 1.0)", ".a".repeat(480)),
        ] {
            assert!(
                refused(&chain).contains("nests over 24 levels"),
                "{}",
                refused(&chain)
            );
        }
        let not = format!("{}true", "!".repeat(1001));
        assert_eq!(eval(&not, &json!({})), Ok(false));
        let minus = format!("{}1.0 < data.a", "-".repeat(1001));
        assert_eq!(eval(&minus, &json!({"a": 0})), Ok(true));
    };
    on_a_workers_stack(run);
}

/// The spike's adversarial filters (a 64-character one ran 65 s on 10,000
/// items, a 267-character one tried to allocate 10^10 bytes): each refused
/// when written.
#[test]
fn the_spikes_adversarial_filters_are_refused() {
    let l = "[0,1,2,3,4,5,6,7,8,9]";
    let mut nested_map = "0".to_string();
    for k in 0..8 {
        nested_map = format!("{l}.map(x{k}, {nested_map})");
    }
    for source in [
        "data.items.exists(a, data.items.exists(b, a.sku + 'z' == b.sku))".to_owned(),
        "data.items.all(a, data.items.all(b, data.items.all(c, a.qty >= 0)))".to_owned(),
        "data.items.map(a, data.items).size() > 0".to_owned(),
        "data.items.map(a, data.blob + data.blob + data.blob + data.blob).size() > 0".to_owned(),
        format!(
            "data.items.exists(i, i.sku.matches('^{}x$'))",
            "(a|b)?".repeat(150)
        ),
        "data.items.exists(i, i.sku.matches(data.pattern))".to_owned(),
        format!(
            "'aaaaaaaaaa'{}.size() > 0",
            ".replace('a', 'aaaaaaaaaa')".repeat(9)
        ),
        "data.blob.replace('a', data.blob).size() > 0".to_owned(),
        format!("{nested_map}.size() > 0"),
        "data.items.exists(i, data.blob.split('').join('-').size() < 0)".to_owned(),
    ] {
        assert!(Filter::parse(&source).is_err(), "admitted: {source}");
    }
}
