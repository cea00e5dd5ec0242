//! Flavor components built from projects (Python, JavaScript, a new Rust
//! crate) the way a user builds them: `flavorbox flavor build DIR`.
//!
//! A Python or JavaScript component is 13-20 MB and takes ten to thirty
//! seconds to build, so each is built once per change of what goes into it:
//! the result is kept in `target/sdk-components/`, named by a hash of the
//! project's files, the SDK and WIT it is built against (the project's own
//! copies, or the ones `flavor build` embeds) and the tool's version. Two
//! projects with the same inputs (an example and the project `flavor new`
//! generates for it) are one component.
//!
//! The tools come from `scripts/install-componentize.sh` (componentize-py in
//! `target/componentize-venv`, componentize-js in `target/componentize-js`)
//! or `$FLAVORBOX_COMPONENTIZE_PY` / `$FLAVORBOX_COMPONENTIZE_JS`; a missing
//! one fails the test with the command that installs it.
//!
//! What it guards against: a stale component served from the cache (its
//! key covers every input), two 20 MB builds at once on a two-core machine
//! (one at a time), and the cache growing with every change (a project's
//! older builds are deleted).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::workspace;

/// componentize-py, as `scripts/install-componentize.sh` installs it.
const PY: crate::Tool = crate::Tool {
    what: "componentize-py",
    var: "FLAVORBOX_COMPONENTIZE_PY",
    default: "target/componentize-venv/bin/componentize-py",
    install: "scripts/install-componentize.sh",
};

/// componentize-js's command-line script, as the same script installs it.
const JS: crate::Tool = crate::Tool {
    what: "componentize-js",
    var: "FLAVORBOX_COMPONENTIZE_JS",
    default: "target/componentize-js/node_modules/@bytecodealliance/componentize-js/src/cli.js",
    install: "scripts/install-componentize.sh",
};

pub fn componentize_py() -> PathBuf {
    PY.installed()
}

pub fn componentize_js() -> PathBuf {
    JS.installed()
}

/// A `flavorbox` binary to build with: this profile's, else the debug one.
fn any_flavorbox_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?.to_path_buf();
    let name = format!("flavorbox{}", std::env::consts::EXE_SUFFIX);
    [
        profile.join(&name),
        workspace().join("target/debug").join(&name),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

pub fn lang_of(dir: &Path) -> Lang {
    if dir.join("Cargo.toml").is_file() {
        Lang::Rust
    } else if dir.join("app.py").is_file() {
        Lang::Python
    } else if dir.join("app.js").is_file() {
        Lang::Js
    } else {
        panic!("{} is not a flavor project", dir.display())
    }
}

/// Points `flavorbox flavor build` at the installed tools; Rust projects
/// build in the guests' target directory, whose compiled dependencies
/// (wit-bindgen) they share.
pub fn tool_env(cmd: &mut Command, lang: Lang) {
    match lang {
        Lang::Python => {
            cmd.env("FLAVORBOX_COMPONENTIZE_PY", componentize_py());
        }
        Lang::Js => {
            cmd.env("FLAVORBOX_COMPONENTIZE_JS", componentize_js());
        }
        Lang::Rust => {
            cmd.env("CARGO_TARGET_DIR", workspace().join("target/guests"));
        }
    }
}

/// Files that go into a build: (path in the staged project, contents).
fn inputs(dir: &Path, lang: Lang) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    let has = |prefix: &str| {
        files
            .iter()
            .any(|(p, _): &(String, _)| p.starts_with(prefix))
    };
    let mut fallback = Vec::new();
    if !has("wit/") {
        // What `flavor build` embeds: a project's flat `wit/`, contract 0.2
        // for Python and JavaScript (the one the SDKs speak), 0.1 for Rust,
        // beside the shared WASI `deps/`.
        let contract = match lang {
            Lang::Rust => "wit/0.1/flavor.wit",
            Lang::Python | Lang::Js => "wit/0.2/flavor.wit",
        };
        collect(&workspace().join("wit/deps"), &workspace(), &mut fallback);
        fallback.push((
            "wit/flavor.wit".into(),
            std::fs::read(workspace().join(contract)).unwrap(),
        ));
    }
    match lang {
        Lang::Python if !has("flavorbox_sdk/") => collect(
            &workspace().join("sdk/python"),
            &workspace().join("sdk/python"),
            &mut fallback,
        ),
        Lang::Js if !has("flavorbox-sdk.js") => fallback.push((
            "flavorbox-sdk.js".into(),
            std::fs::read(workspace().join("sdk/js/flavorbox-sdk.js")).unwrap(),
        )),
        _ => {}
    }
    files.extend(fallback);
    files.sort();
    files
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    const SKIP: &[&str] = &[
        "target",
        "node_modules",
        "__pycache__",
        "Cargo.lock",
        "README.md",
        ".gitignore",
        "package.json",
        "package-lock.json",
    ];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if SKIP.contains(&name.as_str()) || name.ends_with(".wasm") {
            continue;
        }
        if path.is_dir() {
            collect(&path, root, out);
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            out.push((relative, std::fs::read(&path).unwrap()));
        }
    }
}

fn tool_version(lang: Lang) -> String {
    let output = match lang {
        Lang::Python => Command::new(componentize_py()).arg("--version").output(),
        Lang::Js => Command::new("node")
            .arg(componentize_js())
            .arg("--version")
            .output(),
        Lang::Rust => Command::new("cargo").arg("--version").output(),
    }
    .expect("run the build tool");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The hash a build of `dir` is kept under.
pub fn source_key(dir: &Path) -> String {
    let lang = lang_of(dir);
    let mut bytes = format!("{lang:?}\n{}\n", tool_version(lang)).into_bytes();
    for (path, contents) in inputs(dir, lang) {
        bytes.extend_from_slice(format!("{path}\n{}\n", contents.len()).as_bytes());
        bytes.extend_from_slice(&contents);
    }
    flavorbox::sandbox::cache::digest(&bytes)[7..23].to_string()
}

/// The component built from the project in `dir` by `flavorbox flavor
/// build`, from the cache when its inputs have not changed.
pub fn component(dir: &Path) -> PathBuf {
    try_component(dir).unwrap_or_else(|why| panic!("{why}"))
}

/// As [`component`], or why it cannot be had (for the benchmarks, which
/// leave a pair out rather than fail).
pub fn try_component(dir: &Path) -> Result<PathBuf, String> {
    // One build at a time: each uses both cores.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    let lang = lang_of(dir);
    match lang {
        Lang::Python => PY.find().map(drop)?,
        Lang::Js => JS.find().map(drop)?,
        Lang::Rust => {}
    }
    let cache = workspace().join("target/sdk-components");
    std::fs::create_dir_all(&cache).map_err(|e| e.to_string())?;
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let path = cache.join(format!("{name}-{}.wasm", source_key(dir)));
    if path.is_file() {
        return Ok(path);
    }
    let bin = any_flavorbox_bin()
        .ok_or("no flavorbox binary to build with (cargo build -p flavorbox-cli)")?;
    let tmp = cache.join(format!(".{name}-{}.wasm", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.args(["flavor", "build"]).arg(dir).arg("-o").arg(&tmp);
    tool_env(&mut cmd, lang);
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run flavorbox: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "flavorbox flavor build {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    // Older builds of the same project are superseded: 13-20 MB each.
    for entry in std::fs::read_dir(&cache)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let other = entry.path();
        let file = other.file_name().unwrap_or_default().to_string_lossy();
        let key = file
            .strip_prefix(&format!("{name}-"))
            .and_then(|rest| rest.strip_suffix(".wasm"));
        let same_project =
            key.is_some_and(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit()));
        if other != path && same_project {
            let _ = std::fs::remove_file(&other);
        }
    }
    Ok(path)
}
