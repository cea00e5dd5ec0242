//! The CLI for daily work and for operating over time, end to end through
//! the binary:
//!
//! - `values.rs`: raw values and output formats, `run`, `resolve`, export
//!   and import (flavorbox's and ZenML's);
//! - `grants.rs`: grants that cannot be mistyped (origins and patterns, a
//!   grant the flavor does not declare) and a missing grant told as the
//!   operator's, with the command that grants it;
//! - `operating.rs`: upgrades, grants, rotation and config references,
//!   masked config, updates and renames, concurrent updates;
//! - `rules.rs`: the same input rules on every path, confirmations, usage
//!   errors, completions and man pages;
//! - `forgiving.rs`: typos, aliases, short flags, output formats, exit
//!   codes, homes made only on purpose and `--from-json` reading YAML;
//! - `transfer.rs`: imports that name every conflict, dry runs, skip and
//!   overwrite, quotas held before writing, private export files, progress;
//! - `run_env.rs`: what a secret may not do to the process `run` starts
//!   (or a shell evaluating `--output env`), flavorbox's own variables kept
//!   from it, signals passed on and the command's life tied to flavorbox;
//! - `bundled.rs`: the flavors bundled with the binary, listed, registered
//!   on first use and upgraded with it;
//! - `watch.rs`: `run --watch` restarting the command when a secret it
//!   uses changes, `resolve --watch` rendering its file again;
//! - `history.rs`: a secret's versions, rollback, soft delete and
//!   restore, `--if-version`, labels and the listing's filters;
//! - `pages.rs`: closed pipes end quietly, the manual and `--help` teach,
//!   `flavor new` refuses taken names, `evaluate` names what it judged.

mod bundled;
mod forgiving;
mod grants;
mod history;
mod operating;
mod pages;
mod rules;
mod run_env;
mod transfer;
mod values;
mod watch;

use flavorbox_tests::CliHome;

/// Writes `text` to `file` in `home`; the file's path.
fn write(home: &CliHome, file: &str, text: &str) -> String {
    let path = home.path().join(file);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// `flavorbox ARGS` (on `home`, if given) with its own stdio on a
/// pseudo-terminal, not the pipes a `cli_command` gets; each expectation
/// waits at most two minutes.
fn on_a_terminal(home: Option<&CliHome>, args: &[&str]) -> expectrl::Session {
    let mut cmd = std::process::Command::new(flavorbox_tests::cli::flavorbox_bin());
    if let Some(home) = home {
        cmd.arg("--home").arg(home.path());
    }
    cmd.args(args)
        .env("FLAVORBOX_CACHE_DIR", flavorbox_tests::cli::cache_dir())
        .env_remove("FLAVORBOX_HOME")
        .env_remove("FLAVORBOX_LOG");
    let mut session = expectrl::Session::spawn(cmd).expect("spawn under a pty");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(120)));
    session
}
