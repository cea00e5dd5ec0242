//! `flavorbox completions SHELL` and `flavorbox man [DIR]`: generated from
//! the same argument definitions the parser uses, so they never drift.
//!
//! The manual adds what the definitions do not hold, each from the one
//! place it is kept, so none can forget a variable or a code: EXAMPLES are
//! [`EXAMPLES`], which `flavorbox --help` ends with too (a command's page
//! shows the examples that run it); ENVIRONMENT is
//! [`environment::ALL`](super::environment::ALL); EXIT STATUS is
//! [`flavorbox::ErrorKind::EXIT_CODES`] with success and `run`'s own.
//!
//! Scripts and pages are rendered in memory and written through
//! [`output::raw`], so a reader that goes away (`| head`) ends the process
//! quietly, as every other listing does.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use clap_complete::Shell;
use clap_mangen::Man;
use flavorbox::{Error, ErrorKind, Result};
use roff::{Roff, bold, roman};

use super::environment;
use super::output::{self, out};

/// How the CLI is used, shown at the end of `flavorbox --help` and, in
/// the manual, as EXAMPLES. Paragraphs are separated by a blank line; a
/// command's own page shows the paragraphs with a line that runs it.
pub const EXAMPLES: &str = "\
Examples:
  Store a secret on the active secrets manager and read it back:
    flavorbox secret register db_creds username=admin password=@password.txt
    flavorbox secret get db_creds --reveal

  List secrets as JSON, for a script:
    flavorbox secret list --output json

  Run a program with a secret's keys in its environment, or fill a file:
    flavorbox run --secret db_creds -- ./deploy.sh
    flavorbox resolve config.tmpl > config.ini

  Judge an untrusted flavor in a throwaway home, then register it:
    flavorbox evaluate vendor_flavor.wasm
    flavorbox flavor register vendor_flavor.wasm --grant storage

  Keep secrets in Vault, on a secrets manager made the active one:
    flavorbox flavor register vault.wasm --allow-host https://vault.example.com:8200
    flavorbox secrets-manager register team --flavor vault --set-active \\
      --config url=https://vault.example.com:8200 --config token=@vault-token.txt

  Start a flavor of your own, build it and judge it:
    flavorbox flavor new myvault --lang python
    flavorbox flavor build myvault
    flavorbox evaluate myvault/myvault.wasm";

/// What exit 0 means.
const EXIT_SUCCESS: &str = "success (evaluate: the verdict is PASS); also when whoever \
                            reads the output goes away early (a closed pipe, as in | head)";
/// What `run` exits with.
const EXIT_RUN: &str = "run exits with its command's exit code, or 128 + the signal that \
                        ended it.";

/// Shells completions are generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for
    #[arg(value_enum)]
    shell: CompletionShell,
}

#[derive(Args)]
pub struct ManArgs {
    /// Write one page per command into this directory (created if needed);
    /// without it, the main page goes to stdout
    dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<()> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "flavorbox", &mut script);
    output::raw(&script);
    Ok(())
}

pub fn man(args: ManArgs, cmd: clap::Command) -> Result<()> {
    let Some(dir) = args.dir else {
        let name = cmd.get_name().to_string();
        output::raw(&page(cmd, &[name])?);
        return Ok(());
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::invalid(format!("cannot create {}: {e}", dir.display())))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    every_page(cmd, &[], &mut pages)?;
    for (file, text) in &pages {
        std::fs::write(dir.join(file), text).map_err(|e| {
            Error::invalid(format!("cannot write man pages to {}: {e}", dir.display()))
        })?;
    }
    out!("wrote {} man pages to {}", pages.len(), dir.display());
    Ok(())
}

/// The pages of `cmd` and of every visible subcommand under it, as (file
/// name, text); `parent` is the command path above `cmd`.
fn every_page(
    cmd: clap::Command,
    parent: &[String],
    pages: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let mut path = parent.to_vec();
    path.push(cmd.get_name().to_string());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        every_page(sub.clone(), &path, pages)?;
    }
    let file = Man::new(cmd.clone()).get_filename();
    pages.push((file, page(cmd, &path)?));
    Ok(())
}

/// The page of `cmd` (run as `path`, `flavorbox` first): what clap_mangen
/// renders from the definitions, then EXAMPLES, ENVIRONMENT and EXIT
/// STATUS, before the version.
fn page(cmd: clap::Command, path: &[String]) -> Result<Vec<u8>> {
    let top = path.len() == 1;
    let has_options = cmd.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    // The top command's after-help is EXAMPLES, rendered below.
    let has_extra = !top && (cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some());
    let has_version = cmd.get_version().is_some() || cmd.get_long_version().is_some();
    let man = Man::new(cmd);
    let mut text = Vec::new();
    let rendered = (|| -> std::io::Result<()> {
        man.render_title(&mut text)?;
        man.render_name_section(&mut text)?;
        man.render_synopsis_section(&mut text)?;
        man.render_description_section(&mut text)?;
        if has_options {
            man.render_options_section(&mut text)?;
        }
        if has_subcommands {
            man.render_subcommands_section(&mut text)?;
        }
        if has_extra {
            man.render_extra_section(&mut text)?;
        }
        sections(path).to_writer(&mut text)?;
        if has_version {
            man.render_version_section(&mut text)?;
        }
        Ok(())
    })();
    rendered.map_err(|e| Error::host(format!("cannot render the man page: {e}")))?;
    Ok(text)
}

/// EXAMPLES (those that run `path`), ENVIRONMENT and EXIT STATUS.
fn sections(path: &[String]) -> Roff {
    let mut roff = Roff::new();
    let examples = examples_for(path);
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for paragraph in examples {
            roff.control("PP", []);
            roff.control("nf", []);
            // The paragraph's own indent goes; the commands' stays.
            for line in paragraph.lines() {
                roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
            }
            roff.control("fi", []);
        }
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in environment::ALL {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    let codes = [(0, EXIT_SUCCESS)].into_iter().chain(ErrorKind::EXIT_CODES);
    for (code, meaning) in codes {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(meaning)]);
    }
    roff.control("PP", []);
    roff.text([roman(EXIT_RUN)]);
    roff
}

/// The paragraphs of [`EXAMPLES`] for the page of `path`: all of them on
/// the main page, on a command's page those with a line that runs it.
fn examples_for(path: &[String]) -> Vec<&'static str> {
    let body = EXAMPLES
        .split_once('\n')
        .map_or(EXAMPLES, |(_heading, body)| body);
    let runs = path.join(" ");
    body.split("\n\n")
        .filter(|paragraph| {
            path.len() == 1
                || paragraph.lines().any(|line| {
                    let line = line.trim_start();
                    line == runs || line.starts_with(&format!("{runs} "))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_command_page_shows_the_examples_that_run_it() {
        let all = examples_for(&path(&["flavorbox"]));
        assert_eq!(all.len(), EXAMPLES.matches("\n\n").count() + 1);
        let evaluate = examples_for(&path(&["flavorbox", "evaluate"]));
        assert_eq!(evaluate.len(), 2, "{evaluate:#?}");
        let get = examples_for(&path(&["flavorbox", "secret", "get"]));
        assert_eq!(get.len(), 1, "{get:#?}");
        // `secret` is not `secrets-manager`.
        let manager = examples_for(&path(&["flavorbox", "secrets-manager"]));
        assert_eq!(manager.len(), 1, "{manager:#?}");
        assert!(examples_for(&path(&["flavorbox", "token", "list"])).is_empty());
    }
}
