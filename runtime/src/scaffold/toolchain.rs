//! Running a language's build tool, for every language: finding the tool,
//! reading its version, and building from a staged copy of the project.
//!
//! Guards against a missing tool reported as anything but one line naming
//! it and how to install it, a tool's failure hidden (its own output is
//! shown as it comes: it is the user's code, and they need it), and build
//! caches written into the user's tree (tools run on a temporary copy that
//! carries the contract and SDK the project does not carry itself).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flavorbox::{Error, Result};

use super::wit_files;

/// How to run a tool, or the one line that says how to install it.
pub(super) struct Tool {
    pub(super) program: PathBuf,
    pub(super) args_before: Vec<String>,
    pub(super) name: &'static str,
}

impl Tool {
    pub(super) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args_before);
        cmd
    }

    /// Readies a build of the project in `dir` with this tool: its version
    /// checked (`install` says how to get it; a version other than `tested`
    /// is warned about), the project staged with `sdk` and `contract` (where
    /// it carries no copy of its own), and what is built
    /// announced (`carries`: the runtime the component embeds). The staged
    /// copy (kept while it lives) and the tool's command, run in it.
    pub(super) fn prepare(
        &self,
        install: &str,
        tested: &str,
        dir: &Path,
        sdk: &'static [(&'static str, &'static str)],
        contract: &'static str,
        carries: &str,
    ) -> Result<(tempfile::TempDir, Command)> {
        let version = self.version(install)?;
        warn_version(self.name, &version, tested);
        let stage = staging(dir, sdk, contract)?;
        eprintln!(
            "building with {} {} ({carries})…",
            self.name,
            flavorbox::text::escape(&version)
        );
        let mut command = self.command();
        command.current_dir(stage.path());
        Ok((stage, command))
    }

    /// The tool's `--version` output, or `Err(install hint)` if it cannot run.
    pub(super) fn version(&self, install: &str) -> Result<String> {
        let missing = || {
            Error::invalid(format!(
                "{} is not installed (or not on PATH); {install}",
                self.name
            ))
        };
        let output = self
            .command()
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|_| missing())?;
        if !output.status.success() {
            return Err(missing());
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string())
    }
}

/// The tool an environment variable points at, if it is set.
pub(super) fn env_tool(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn warn_version(tool: &str, found: &str, tested: &str) {
    if found != tested {
        eprintln!(
            "flavorbox: warning: {tool} {} is not {tested}, the version flavorbox is tested with",
            flavorbox::text::escape(found)
        );
    }
}

pub(super) fn run_tool(mut cmd: Command, tool: &str) -> Result<std::process::Output> {
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::invalid(format!("cannot run {tool}: {e}")))?;
    if !output.status.success() {
        // Its diagnostics went to stderr already; its stdout may hold more.
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        return Err(Error::invalid(format!(
            "{tool} failed ({}); its output is above",
            output.status
        )));
    }
    Ok(output)
}

/// A copy of the project to build from, with the contract and the SDK the
/// project does not carry itself. Tools write caches next to their inputs;
/// building from a copy keeps them out of the user's tree.
fn staging(
    dir: &Path,
    sdk: &'static [(&'static str, &'static str)],
    contract: &'static str,
) -> Result<tempfile::TempDir> {
    let stage = tempfile::Builder::new()
        .prefix("flavorbox-build-")
        .tempdir()
        .map_err(|e| Error::host(format!("cannot create a build directory: {e}")))?;
    copy_tree(dir, stage.path())?;
    let has_sdk = sdk.iter().all(|(p, _)| dir.join(p).exists());
    for (relative, text) in wit_files(contract)
        .filter(|_| !dir.join("wit").is_dir())
        .chain(sdk.iter().copied().filter(|_| !has_sdk))
    {
        let path = stage.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::host(format!("cannot stage {relative}: {e}")))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Error::host(format!("cannot stage {relative}: {e}")))?;
    }
    Ok(stage)
}

/// Copies the project's files (not its builds, caches or dependencies).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    const SKIP: &[&str] = &["node_modules", "target", "__pycache__", ".git"];
    let entries = std::fs::read_dir(from)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", from.display())))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::invalid(format!("cannot read {}: {e}", from.display())))?;
        let name = entry.file_name();
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        let skip = SKIP.iter().any(|s| name == *s) || path.extension().is_some_and(|x| x == "wasm");
        if skip {
            continue;
        }
        let target = to.join(&name);
        if kind.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(|e| Error::host(format!("cannot stage {}: {e}", path.display())))?;
            copy_tree(&path, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&path, &target)
                .map_err(|e| Error::host(format!("cannot stage {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

pub(super) fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| Error::invalid(format!("bad output path {}: {e}", path.display())))
}
