//! `docs/configuration.md`'s tables of settings, one per command, written
//! from the flags' definitions so that a setting cannot be missing from
//! them or described differently there than in `--help`. A test compares
//! the page with what this writes; `UPDATE_DOCS=1 cargo test --lib
//! config::reference` rewrites the page.

use clap::{Arg, Command};

/// The commands whose flags the page lists, each between its markers.
const COMMANDS: [&str; 3] = ["serve", "token", "listen"];

fn begin(command: &str) -> String {
    format!(
        "<!-- flags of `webhook-service {command}`: generated from src/config by \
         `UPDATE_DOCS=1 cargo test --lib config::reference`; edit the flags' doc comments -->"
    )
}

const END: &str = "<!-- end of generated flags -->";

/// The flags of `command` a person sets: all but `--help` and `--version`.
fn flags(command: &Command) -> impl Iterator<Item = &Arg> {
    command
        .get_arguments()
        .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
}

/// One row: variable, flag, default, meaning. A default clap cannot state
/// (one computed at start-up) is the help's `Default: ...` sentence.
fn row(arg: &Arg) -> String {
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let (meaning, stated) = match help.split_once(" Default: ") {
        Some((meaning, default)) => (meaning.to_owned(), Some(default.trim_end_matches('.'))),
        None => (help.clone(), None),
    };
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    let default = if !defaults.is_empty() {
        defaults.join(", ")
    } else {
        stated.map_or_else(|| "none".to_owned(), str::to_owned)
    };
    let env = arg.get_env().map_or_else(
        || "–".to_owned(),
        |env| format!("`{}`", env.to_string_lossy()),
    );
    let flag = arg
        .get_long()
        .map_or_else(String::new, |long| format!("`--{long}`"));
    let cell = |text: &str| text.replace('|', "\\|");
    format!(
        "| {env} | {flag} | {} | {} |",
        cell(&default),
        cell(&meaning)
    )
}

/// `command`'s table, between its markers.
fn table(name: &str, command: &Command) -> String {
    let mut out = vec![
        begin(name),
        String::new(),
        "| variable | flag | default | meaning |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    out.extend(flags(command).map(row));
    out.push(String::new());
    out.push(END.to_owned());
    out.join("\n")
}

/// `page` with each command's table written afresh, or why it cannot be.
fn rewrite(page: &str, cli: &Command) -> Result<String, String> {
    let mut page = page.to_owned();
    for name in COMMANDS {
        let command = cli
            .find_subcommand(name)
            .ok_or_else(|| format!("no command `{name}`"))?;
        let begin = begin(name);
        let start = page
            .find(&begin)
            .ok_or_else(|| format!("the page lost the start marker of `{name}`"))?;
        let end = page[start..]
            .find(END)
            .map(|at| start + at + END.len())
            .ok_or_else(|| format!("the page lost the end marker of `{name}`"))?;
        page.replace_range(start..end, &table(name, command));
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::CommandFactory;

    use super::*;
    use crate::config::Cli;

    fn page() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md")
    }

    #[test]
    fn the_configuration_page_lists_every_flag_as_the_code_defines_it() {
        let text = std::fs::read_to_string(page()).unwrap();
        let fresh = rewrite(&text, &Cli::command()).unwrap();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(page(), &fresh).unwrap();
            return;
        }
        assert!(
            text == fresh,
            "docs/configuration.md is out of date with the flags: run \
             `UPDATE_DOCS=1 cargo test --lib config::reference` and commit it"
        );
    }

    #[test]
    fn every_server_setting_has_a_variable_a_flag_and_a_meaning() {
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        assert!(flags(serve).count() > 40);
        for arg in flags(serve) {
            let row = row(arg);
            assert!(arg.get_env().is_some(), "no variable: {row}");
            assert!(arg.get_long().is_some(), "no flag: {row}");
            assert!(!row.ends_with("|  |"), "no help: {row}");
        }
    }

    #[test]
    fn a_default_computed_at_start_up_is_taken_from_the_help() {
        let arg = Arg::new("lease")
            .long("lease")
            .env("WEBHOOK_LEASE")
            .help("How long a lease lasts. Default: WEBHOOK_TIMEOUT + 30s.");
        assert_eq!(
            row(&arg),
            "| `WEBHOOK_LEASE` | `--lease` | WEBHOOK_TIMEOUT + 30s | How long a lease lasts. |"
        );
        let arg = Arg::new("addr")
            .long("addr")
            .default_value("127.0.0.1:1")
            .help("An address | or off.");
        assert_eq!(
            row(&arg),
            "| – | `--addr` | `127.0.0.1:1` | An address \\| or off. |"
        );
    }

    #[test]
    fn a_page_without_its_markers_is_refused() {
        let cli = Cli::command();
        assert!(rewrite("no markers", &cli).unwrap_err().contains("serve"));
    }
}
