//! The documentation cannot drift: README.md stays a front door that links
//! every page of `docs/`, every link between them leads somewhere, and every
//! command block of a walk-through is part of the script CI runs
//! (`docs/walkthrough/run.sh` runs the scripts against a real service).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every Markdown file under `docs/`, relative to the root.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path.strip_prefix(root()).unwrap().to_owned());
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("docs"), &mut found);
    found.sort();
    found
}

/// The fenced blocks of `markdown` whose info string is `lang`, each as
/// its text without the fences.
fn blocks<'a>(markdown: &'a str, lang: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = markdown;
    let opening = format!("```{lang}\n");
    while let Some(start) = rest.find(&opening) {
        let body = &rest[start + opening.len()..];
        let end = body.find("\n```").expect("an unclosed block");
        found.push(&body[..end + 1]);
        rest = &body[end + 4..];
    }
    found
}

/// The targets of the Markdown links in `markdown` outside code: `[text](target)`.
fn links(markdown: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(&after[..end]);
            rest = &after[end..];
        }
    }
    found
}

/// GitHub's anchor for a heading: lower case, spaces to dashes, most
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut found = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn the_readme_is_a_front_door_of_at_most_250_lines() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: move detail to docs/"
    );
}

#[test]
fn every_page_of_docs_is_reachable_from_the_readme() {
    let mut reached = BTreeSet::new();
    let mut queue = vec![PathBuf::from("README.md")];
    while let Some(page) = queue.pop() {
        // A missing page is the link test's to report.
        if !root().join(&page).exists() || !reached.insert(page.clone()) {
            continue;
        }
        let dir = page.parent().unwrap().to_owned();
        for link in links(&read(&root().join(&page))) {
            let target = link.split('#').next().unwrap();
            if target.ends_with(".md") && !target.contains("://") {
                queue.push(normalise(&dir.join(target)));
            }
        }
    }
    let unreached: Vec<_> = pages()
        .into_iter()
        .filter(|page| !reached.contains(page))
        .collect();
    assert!(unreached.is_empty(), "not linked: {unreached:?}");
}

/// `a/b/../c` as `a/c`.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_leads_somewhere() {
    let mut broken = Vec::new();
    for page in pages().into_iter().chain([PathBuf::from("README.md")]) {
        let text = read(&root().join(&page));
        let dir = page.parent().unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (target, fragment) = link.split_once('#').unwrap_or((link, ""));
            let file = if target.is_empty() {
                page.clone()
            } else {
                normalise(&dir.join(target))
            };
            if !root().join(&file).exists() {
                broken.push(format!(
                    "{}: {link} (no {})",
                    page.display(),
                    file.display()
                ));
                continue;
            }
            if !fragment.is_empty()
                && file.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&root().join(&file))).contains(fragment)
            {
                broken.push(format!("{}: {link} (no such heading)", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Each walk-through page shows its script in pieces: every `sh` block of
/// `docs/walkthrough/NAME.md` must be in `NAME.sh` as it is, so a command a
/// reader copies is one CI ran.
#[test]
fn every_command_of_a_walk_through_is_in_the_script_ci_runs() {
    let dir = root().join("docs/walkthrough");
    let mut checked = 0;
    let mut missing = Vec::new();
    let mut shown: Vec<(String, PathBuf)> = Vec::new();
    for page in pages() {
        let Some(name) = page
            .strip_prefix("docs/walkthrough")
            .ok()
            .and_then(|p| p.file_stem())
        else {
            continue;
        };
        let script = dir.join(name).with_extension("sh");
        shown.extend(
            blocks(&read(&root().join(&page)), "sh")
                .into_iter()
                .map(|block| (block.to_owned(), script.clone())),
        );
    }
    // The README's tour is the start of the gRPC walk-through.
    let readme = read(&root().join("README.md"));
    let tour_steps = blocks(&readme, "sh")
        .into_iter()
        .filter(|block| block.contains("grpcurl"))
        .map(|block| (block.to_string(), dir.join("grpc.sh")));
    for (block, script) in shown.into_iter().chain(tour_steps) {
        checked += 1;
        if !read(&script).contains(&block) {
            missing.push(format!("{}:\n{block}", script.display()));
        }
    }
    assert!(checked >= 6, "only {checked} blocks found");
    assert!(
        missing.is_empty(),
        "blocks not in their script:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_link_checker_sees_a_missing_file_and_a_missing_heading() {
    let text = "# Top\n[a](nowhere.md) [b](#top) [c](#bottom)\n```sh\n[d](x)\n```\n";
    assert_eq!(links(text), ["nowhere.md", "#top", "#bottom"]);
    assert!(anchors(text).contains("top"));
    assert!(!anchors(text).contains("bottom"));
    assert_eq!(
        anchor(" Portal links: the console inside a host application"),
        "portal-links-the-console-inside-a-host-application"
    );
}
