//! `docs/filtering.md` is checked here, so that the page cannot drift: every
//! example is a `cel` block, then a `json` block holding the event
//! (`type`, `organization_id`, `labels`, `data`), then a line giving the
//! result: `→ matches`, `→ no match`, `→ error: <reason>` or
//! `→ refused: <line, column: reason>`.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::*;

const PAGE: &str = include_str!("../../../docs/filtering.md");

struct Example {
    /// The line of the page where the `cel` block starts, for messages.
    line: usize,
    filter: String,
    event: Option<String>,
    expected: String,
}

/// The examples of the page, in order.
fn examples(page: &str) -> Vec<Example> {
    let mut lines = page.lines().enumerate();
    let mut found = Vec::new();
    let block = |lines: &mut dyn Iterator<Item = (usize, &str)>| {
        lines
            .map(|(_, l)| l)
            .take_while(|l| l.trim() != "```")
            .collect::<Vec<_>>()
            .join("\n")
    };
    while let Some((n, line)) = lines.next() {
        if line.trim() != "```cel" {
            continue;
        }
        let filter = block(&mut lines);
        let mut event = None;
        let expected = loop {
            let (_, next) = lines
                .next()
                .unwrap_or_else(|| panic!("line {}: no result", n + 1));
            let next = next.trim();
            if next == "```json" {
                event = Some(block(&mut lines));
            } else if let Some(result) = next.strip_prefix("→ ") {
                break result.to_owned();
            } else if !next.is_empty() {
                panic!(
                    "line {}: expected a json block or a → line, found {next:?}",
                    n + 1
                );
            }
        };
        found.push(Example {
            line: n + 1,
            filter,
            event,
            expected,
        });
    }
    found
}

fn outcome(example: &Example) -> String {
    let filter = match Filter::parse(&example.filter) {
        Ok(filter) => filter,
        Err(e) => return format!("refused: {e}"),
    };
    let event: Json = serde_json::from_str(
        example
            .event
            .as_deref()
            .unwrap_or_else(|| panic!("line {}: no event", example.line)),
    )
    .unwrap_or_else(|e| panic!("line {}: the event is not JSON: {e}", example.line));
    let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
    let labels: BTreeMap<String, String> = serde_json::from_value(event["labels"].clone())
        .unwrap_or_else(|e| panic!("line {}: labels: {e}", example.line));
    let view = EventView::new(
        &text("organization_id"),
        &text("type"),
        &labels,
        &event["data"],
    );
    match filter.matches(&view) {
        Ok(true) => "matches".to_owned(),
        Ok(false) => "no match".to_owned(),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn every_example_of_the_filtering_page_gives_the_stated_result() {
    let examples = examples(PAGE);
    assert!(
        examples.len() >= 12,
        "the page has {} examples",
        examples.len()
    );
    let wrong: Vec<String> = examples
        .iter()
        .filter_map(|ex| {
            let got = outcome(ex);
            (got != ex.expected).then(|| {
                format!(
                    "line {}: `{}` gives `{got}`, the page says `{}`",
                    ex.line, ex.filter, ex.expected
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_page_reader_sees_a_wrong_result() {
    let page = "```cel\ntype == \"a\"\n```\n```json\n{\"type\": \"a\", \"organization_id\": \"o\", \"labels\": {}, \"data\": {}}\n```\n→ no match\n";
    let found = examples(page);
    assert_eq!(found.len(), 1);
    assert_eq!(outcome(&found[0]), "matches");
    assert_ne!(outcome(&found[0]), found[0].expected);
}
