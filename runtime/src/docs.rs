//! `flavorbox completions SHELL` and `flavorbox man [DIR]`: generated from
//! the same argument definitions the parser uses, so they never drift.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use clap_complete::Shell;
use flavorbox::{Error, Result};

use super::output::out;

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
    clap_complete::generate(shell, &mut cmd, "flavorbox", &mut std::io::stdout());
    Ok(())
}

pub fn man(args: ManArgs, cmd: clap::Command) -> Result<()> {
    match args.dir {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(|e| Error::host(format!("cannot write the man page: {e}"))),
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::invalid(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(cmd, &dir).map_err(|e| {
                Error::invalid(format!("cannot write man pages to {}: {e}", dir.display()))
            })?;
            let count = std::fs::read_dir(&dir)
                .map(|d| d.filter_map(|e| e.ok()).count())
                .unwrap_or(0);
            out!("wrote {count} man pages to {}", dir.display());
            Ok(())
        }
    }
}
