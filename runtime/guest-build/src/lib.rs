//! Builds guest crates into wasm components; a build dependency of the host
//! library `runtime/host` (which embeds the `local` flavor) and of `tests`
//! (which needs every guest). Modeled on wasmtime's
//! `crates/test-programs/artifacts/build.rs`.
//!
//! What it guards against: a guest built with the outer build's flags or
//! target (they are scrubbed from the nested cargo), a failed guest build
//! passing unnoticed (it panics, naming the missing target), and a component
//! asked for that the build did not produce (it panics naming the package).
//!
//! Guests build in release mode for `wasm32-wasip2` (whose output already is
//! a component) into `target/guests`, their own target directory, so the
//! nested cargo never waits on the outer one's lock. Cargo itself makes a
//! second invocation a no-op, so each guest compiles once per change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Environment the outer cargo sets that must not leak into the guest build
/// (flags for the host target, clippy's wrapper, ...).
const SCRUBBED_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_PRIMARY_PACKAGE",
];

/// The target every guest is built for; its output already is a component.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// The flavors the host library embeds: the built-in `local` and the
/// flavors bundled with the binary. The host's build builds exactly these;
/// every other build of the guests leaves them out, so no two builds write
/// the same component (see [`build_guests`]).
pub const EMBEDDED_FLAVORS: &[&str] = &["local", "aws", "gcp_secrets_manager", "vault"];

/// The workspace root: the nearest ancestor of the calling build script's
/// manifest directory that holds `guests/`.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"));
    manifest
        .ancestors()
        .find(|dir| dir.join("guests").join("Cargo.toml").is_file())
        .expect("a crate of the workspace that holds guests/")
        .to_path_buf()
}

/// A component the guest build produced.
pub struct Component {
    /// The `.wasm` file, in `target/guests`.
    pub wasm: PathBuf,
    /// The directory of the guest crate's `Cargo.toml`, e.g.
    /// `guests/testing/hostile/loop`.
    pub crate_dir: PathBuf,
}

/// Builds `packages` of `guests/` (all of them but `exclude` if empty),
/// named by package name, and returns every component produced, keyed by
/// crate name: the package name with `-` read as `_`, as rustc names the
/// crate (e.g. `hostile_loop`, `local`; see [`crate_name`]). A guest that is
/// a flavor is named so that this is also the name its `info()` reports.
/// Libraries (`guests/lib`, `guests/testing/honest`) produce no component
/// and are not in the map.
///
/// Cargo unifies dependency features over the packages of one build, so the
/// same guest built alone and built with the others can come out different;
/// callers that embed a component should copy it before another build
/// overwrites it, and the two callers here never build the same package.
pub fn build_guests(packages: &[&str], exclude: &[&str]) -> BTreeMap<String, Component> {
    let root = workspace_root();
    let guests = root.join("guests");
    let target_dir = root.join("target").join("guests");
    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--locked")
        .arg("--target")
        .arg(GUEST_TARGET)
        .arg("--manifest-path")
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for package in packages {
        cmd.arg("-p").arg(package);
    }
    if packages.is_empty() {
        cmd.arg("--workspace");
        for package in exclude {
            cmd.arg("--exclude").arg(package);
        }
    }
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let output = cmd.output().expect("cannot run cargo to build the guests");
    let status = output.status;
    if !status.success() {
        panic!(
            "building the guest components failed ({status}); is the {GUEST_TARGET} target \
             installed? (rustup target add {GUEST_TARGET})"
        );
    }
    let mut built = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        // A target's name is its crate name (cargo may spell it with `-`).
        let name = crate_name(message["target"]["name"].as_str().unwrap_or_default());
        let wasm = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"));
        let crate_dir = message["manifest_path"]
            .as_str()
            .map(PathBuf::from)
            .and_then(|manifest| manifest.parent().map(PathBuf::from));
        if let (Some(wasm), Some(crate_dir)) = (wasm, crate_dir) {
            let wasm = PathBuf::from(wasm);
            built.insert(name, Component { wasm, crate_dir });
        }
    }
    for package in packages {
        assert!(
            built.contains_key(&crate_name(package)),
            "guest build produced no component for {package}"
        );
    }
    built
}

/// The crate name of the package `package`: its name with `-` read as `_`.
pub fn crate_name(package: &str) -> String {
    package.replace('-', "_")
}
