//! Rust flavor projects: a cdylib crate on `flavorbox`'s bindings, built
//! with cargo for `wasm32-wasip2`.
//!
//! Guards against a build that cannot work reported as cargo's noise: a
//! missing cargo or target is one line saying how to install it, and a
//! crate that yields no `.wasm` (not a cdylib) is named as such.

use std::path::{Path, PathBuf};
use std::process::Command;

use flavorbox::{Error, Result};

use super::toolchain::{Tool, run_tool};
use super::{CONTRACT_0_1, Language};

const RUST_TARGET: &str = "wasm32-wasip2";

pub(super) fn language() -> Language {
    Language {
        label: "Rust",
        arg: "rust",
        source: "`src/lib.rs`",
        tool: "cargo",
        sdk_note: " (version 0.1)",
        install: format!("rustup target add {RUST_TARGET}             # once"),
        templates: &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust/Cargo.toml.tmpl"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/rust/src/lib.rs"),
            ),
        ],
        sdk: &[],
        contract: CONTRACT_0_1,
        gitignore: "/target\n*.wasm\n",
        build,
    }
}

fn build(dir: &Path, output: &Path) -> Result<()> {
    let cargo = Tool {
        program: std::env::var_os("CARGO")
            .map(PathBuf::from)
            .unwrap_or_else(|| "cargo".into()),
        args_before: Vec::new(),
        name: "cargo",
    };
    cargo.version("install Rust with rustup, then `rustup target add wasm32-wasip2`")?;
    if let Ok(listed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        && listed.status.success()
        && !String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == RUST_TARGET)
    {
        return Err(Error::invalid(format!(
            "the {RUST_TARGET} target is not installed; install it with \
             `rustup target add {RUST_TARGET}`"
        )));
    }
    eprintln!("building with cargo ({RUST_TARGET}, release)…");
    let mut cmd = cargo.command();
    cmd.args(["build", "--release", "--target", RUST_TARGET])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--message-format=json-render-diagnostics");
    let out = run_tool(cmd, "cargo build")?;
    let built = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            m["filenames"]
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
        })
        .next_back()
        .ok_or_else(|| {
            Error::invalid(
                "cargo built no .wasm; is the crate a cdylib (`crate-type = [\"cdylib\"]`)?",
            )
        })?;
    std::fs::copy(&built, output)
        .map_err(|e| Error::invalid(format!("cannot write {}: {e}", output.display())))?;
    Ok(())
}
