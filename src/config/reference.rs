//! `docs/configuration.md`'s table of settings, written from the flags'
//! definitions so that a setting cannot be missing from it or described
//! differently there than in `--help`. A test compares the page with what
//! this writes; `UPDATE_DOCS=1 cargo test --lib config::reference` rewrites
//! the page.

use clap::{Arg, Command};

/// Where the generated table sits in the page.
const BEGIN: &str = "<!-- settings: generated from src/config by `UPDATE_DOCS=1 cargo test --lib config::reference`; edit the flags' doc comments, not this table -->";
const END: &str = "<!-- end of settings -->";

/// The server's settings: the flags of `serve` (or of the binary itself when
/// it has no `serve` of its own) that an environment variable can set.
fn settings(cli: &Command) -> Vec<&Arg> {
    let serve = cli
        .get_subcommands()
        .find(|c| c.get_name() == "serve")
        .filter(|serve| serve.get_arguments().any(|a| a.get_env().is_some()))
        .unwrap_or(cli);
    serve
        .get_arguments()
        .filter(|arg| arg.get_env().is_some())
        .collect()
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
    let env = arg.get_env().unwrap().to_string_lossy();
    let flag = arg
        .get_long()
        .map_or_else(String::new, |long| format!("`--{long}`"));
    let cell = |text: &str| text.replace('|', "\\|");
    format!(
        "| `{env}` | {flag} | {} | {} |",
        cell(&default),
        cell(&meaning)
    )
}

/// The table, between its markers.
pub(super) fn table(cli: &Command) -> String {
    let mut out = vec![
        BEGIN.to_owned(),
        String::new(),
        "| variable | flag | default | meaning |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    out.extend(settings(cli).into_iter().map(row));
    out.push(String::new());
    out.push(END.to_owned());
    out.join("\n")
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
    fn the_configuration_page_lists_every_setting_as_the_flags_define_it() {
        let text = std::fs::read_to_string(page()).unwrap();
        let (before, rest) = text.split_once(BEGIN).expect("the page lost its start marker");
        let (_, after) = rest.split_once(END).expect("the page lost its end marker");
        let fresh = format!("{before}{}{after}", table(&Cli::command()));
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
    fn every_setting_has_a_variable_a_flag_and_a_meaning() {
        let cli = Cli::command();
        let settings = settings(&cli);
        assert!(settings.len() > 40, "{}", settings.len());
        for arg in settings {
            let row = row(arg);
            assert!(arg.get_long().is_some(), "{row}");
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
            .env("ADDR")
            .default_value("127.0.0.1:1")
            .help("An address | or off.");
        assert_eq!(
            row(&arg),
            "| `ADDR` | `--addr` | `127.0.0.1:1` | An address \\| or off. |"
        );
    }
}
