//! `flavorbox flavor new` and `flavorbox flavor build`: a flavor project in
//! Rust, Python or JavaScript, and the component built from it.
//!
//! A new project is self-contained: it carries the contract (`wit/`, the
//! copy this flavorbox was built with, so the component links in this host)
//! and, for Python and JavaScript, the SDK that gives the flavor ZenML's
//! `BaseSecretsManager` shape. `build` runs the language's tool (cargo,
//! componentize-py, componentize-js); a project without its own `wit/` or
//! SDK (the repository's examples) is built against the embedded copies.
//!
//! Guards against: overwriting a user's files (`new` refuses a non-empty
//! directory), names that would not make a valid crate, module or flavor,
//! and a missing tool reported as anything but one line naming the tool and
//! how to install it. The tools' own output (a Python traceback, a cargo
//! error) is shown as it comes: it is the user's code, and they need it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::{Args, ValueEnum};
use flavorbox::{Error, Result};

use super::output::out;

/// The componentize-py release flavors are tested with (scripts/install-componentize.sh).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The componentize-js release flavors are tested with (sdk/js/package.json).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// The world Python and JavaScript flavors are built for: `flavor` plus the
/// `wasi:http` client the host links for every flavor.
const GENERATED_WORLD: &str = "http-flavor";
const RUST_TARGET: &str = "wasm32-wasip2";

/// Files of the contract, as this flavorbox was built with them.
const WIT: &[(&str, &str)] = &[
    ("wit/flavor.wit", include_str!("../../wit/flavor.wit")),
    ("wit/deps/cli.wit", include_str!("../../wit/deps/cli.wit")),
    (
        "wit/deps/clocks.wit",
        include_str!("../../wit/deps/clocks.wit"),
    ),
    (
        "wit/deps/filesystem.wit",
        include_str!("../../wit/deps/filesystem.wit"),
    ),
    ("wit/deps/http.wit", include_str!("../../wit/deps/http.wit")),
    ("wit/deps/io.wit", include_str!("../../wit/deps/io.wit")),
    (
        "wit/deps/random.wit",
        include_str!("../../wit/deps/random.wit"),
    ),
    (
        "wit/deps/sockets.wit",
        include_str!("../../wit/deps/sockets.wit"),
    ),
];

const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "flavorbox_sdk/__init__.py",
        include_str!("../../sdk/python/flavorbox_sdk/__init__.py"),
    ),
    (
        "flavorbox_sdk/errors.py",
        include_str!("../../sdk/python/flavorbox_sdk/errors.py"),
    ),
    (
        "flavorbox_sdk/flavor.py",
        include_str!("../../sdk/python/flavorbox_sdk/flavor.py"),
    ),
    (
        "flavorbox_sdk/host.py",
        include_str!("../../sdk/python/flavorbox_sdk/host.py"),
    ),
    (
        "flavorbox_sdk/http.py",
        include_str!("../../sdk/python/flavorbox_sdk/http.py"),
    ),
];

const JS_SDK: &[(&str, &str)] = &[(
    "flavorbox-sdk.js",
    include_str!("../../sdk/js/flavorbox-sdk.js"),
)];

const README: &str = include_str!("../templates/README.md");
const PYTHON_APP: &str = include_str!("../templates/python/app.py");
const JS_APP: &str = include_str!("../templates/js/app.js");
const RUST_CARGO: &str = include_str!("../templates/rust/Cargo.toml.tmpl");
const RUST_LIB: &str = include_str!("../templates/rust/src/lib.rs");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Args)]
pub struct NewArgs {
    /// The flavor's name: a lowercase letter, then lowercase letters, digits,
    /// `-` or `_` (at most 64)
    name: String,
    /// The language of the project
    #[arg(long, value_enum)]
    lang: Lang,
    /// Where to create the project [default: ./NAME]
    dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct BuildArgs {
    /// The project (a directory with Cargo.toml, app.py or app.js)
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the component [default: DIR/<dir name>.wasm]
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
}

fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !starts_well || !rest_ok || name.len() > 64 {
        return Err(Error::invalid(format!(
            "flavor name `{}` must be a lowercase letter followed by at most 63 lowercase \
             letters, digits, `-` or `_`",
            flavorbox::text::escape(name)
        )));
    }
    Ok(())
}

/// `my-vault` -> `MyVault`: the class name in Python and JavaScript.
fn class_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The files of a new project, with the placeholders filled in.
fn project_files(name: &str, lang: Lang) -> Vec<(String, String)> {
    let class = class_name(name);
    let fill = |text: &str| text.replace("{{name}}", name).replace("{{class}}", &class);
    let (lang_name, lang_arg, source, tool, sdk_note) = match lang {
        Lang::Rust => ("Rust", "rust", "`src/lib.rs`", "cargo", ""),
        Lang::Python => (
            "Python",
            "python",
            "`app.py`",
            "componentize-py",
            "; `flavorbox_sdk/` is the SDK",
        ),
        Lang::Js => (
            "JavaScript",
            "js",
            "`app.js`",
            "componentize-js",
            "; `flavorbox-sdk.js` is the SDK",
        ),
    };
    let install = match lang {
        Lang::Rust => format!("rustup target add {RUST_TARGET}             # once"),
        Lang::Python => {
            format!("pip install componentize-py=={COMPONENTIZE_PY_VERSION}       # once")
        }
        Lang::Js => format!(
            "npm install @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}   # once, here"
        ),
    };
    let readme = fill(README)
        .replace("{{install}}", &install)
        .replace("{{lang}}", lang_name)
        .replace("{{lang_arg}}", lang_arg)
        .replace("{{source}}", source)
        .replace("{{tool}}", tool)
        .replace("{{sdk_note}}", sdk_note);
    let mut files = vec![("README.md".to_string(), readme)];
    let own = |files: &mut Vec<(String, String)>, list: &[(&str, &str)]| {
        files.extend(list.iter().map(|(p, t)| (p.to_string(), t.to_string())));
    };
    match lang {
        Lang::Rust => {
            files.push(("Cargo.toml".into(), fill(RUST_CARGO)));
            files.push(("src/lib.rs".into(), fill(RUST_LIB)));
            files.push((".gitignore".into(), "/target\n*.wasm\n".into()));
        }
        Lang::Python => {
            files.push(("app.py".into(), fill(PYTHON_APP)));
            own(&mut files, PYTHON_SDK);
            files.push((".gitignore".into(), "*.wasm\n__pycache__/\n".into()));
        }
        Lang::Js => {
            files.push(("app.js".into(), fill(JS_APP)));
            own(&mut files, JS_SDK);
            files.push((".gitignore".into(), "*.wasm\nnode_modules/\n".into()));
        }
    }
    own(&mut files, WIT);
    files
}

pub fn new(args: NewArgs) -> Result<()> {
    check_name(&args.name)?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(Error::invalid(format!(
                "{} exists and is not an empty directory; pick another DIR",
                dir.display()
            )));
        }
    }
    let write_err = |path: &Path, e: std::io::Error| {
        Error::invalid(format!("cannot write {}: {e}", path.display()))
    };
    for (relative, text) in project_files(&args.name, args.lang) {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_err(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| write_err(&path, e))?;
    }
    out!(
        "created {} flavor `{}` in {}",
        match args.lang {
            Lang::Rust => "a Rust",
            Lang::Python => "a Python",
            Lang::Js => "a JavaScript",
        },
        args.name,
        dir.display()
    );
    out!("next: flavorbox flavor build {}", dir.display());
    Ok(())
}

/// The language of the project in `dir`.
fn detect(dir: &Path) -> Result<Lang> {
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let found: Vec<Lang> = [
        ("Cargo.toml", Lang::Rust),
        ("app.py", Lang::Python),
        ("app.js", Lang::Js),
    ]
    .into_iter()
    .filter(|(file, _)| dir.join(file).is_file())
    .map(|(_, lang)| lang)
    .collect();
    match found.as_slice() {
        [lang] => Ok(*lang),
        [] => Err(Error::invalid(format!(
            "{} holds no Cargo.toml, app.py or app.js; create a project with \
             `flavorbox flavor new NAME --lang rust|python|js`",
            dir.display()
        ))),
        _ => Err(Error::invalid(format!(
            "{} holds more than one of Cargo.toml, app.py and app.js; keep one",
            dir.display()
        ))),
    }
}

/// How to run a tool, or the one line that says how to install it.
struct Tool {
    program: PathBuf,
    args_before: Vec<String>,
    name: &'static str,
}

impl Tool {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args_before);
        cmd
    }

    /// The tool's `--version` output, or `Err(install hint)` if it cannot run.
    fn version(&self, install: &str) -> Result<String> {
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

fn env_tool(var: &str) -> Option<PathBuf> {
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

pub fn build(args: BuildArgs) -> Result<()> {
    let lang = detect(&args.dir)?;
    let dir = args
        .dir
        .canonicalize()
        .map_err(|e| Error::invalid(format!("cannot open {}: {e}", args.dir.display())))?;
    let stem = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("flavor")
        .to_string();
    let output = args
        .output
        .unwrap_or_else(|| dir.join(format!("{stem}.wasm")));
    let started = Instant::now();
    match lang {
        Lang::Rust => build_rust(&dir, &output)?,
        Lang::Python => build_python(&dir, &output)?,
        Lang::Js => build_js(&dir, &output)?,
    }
    let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    out!(
        "built {} ({:.1} MB) in {:.1} s",
        output.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    out!("next: flavorbox evaluate {}", output.display());
    Ok(())
}

fn run_tool(mut cmd: Command, tool: &str) -> Result<std::process::Output> {
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

fn build_rust(dir: &Path, output: &Path) -> Result<()> {
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

/// A copy of the project to build from, with the contract and the SDK the
/// project does not carry itself. Tools write caches next to their inputs;
/// building from a copy keeps them out of the user's tree.
fn staging(dir: &Path, sdk: &[(&str, &str)]) -> Result<tempfile::TempDir> {
    let stage = tempfile::Builder::new()
        .prefix("flavorbox-build-")
        .tempdir()
        .map_err(|e| Error::host(format!("cannot create a build directory: {e}")))?;
    copy_tree(dir, stage.path())?;
    let has_sdk = sdk.iter().all(|(p, _)| dir.join(p).exists());
    for (relative, text) in WIT
        .iter()
        .filter(|_| !dir.join("wit").is_dir())
        .chain(sdk.iter().filter(|_| !has_sdk))
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

fn build_python(dir: &Path, output: &Path) -> Result<()> {
    let tool = Tool {
        program: env_tool("FLAVORBOX_COMPONENTIZE_PY").unwrap_or_else(|| "componentize-py".into()),
        args_before: Vec::new(),
        name: "componentize-py",
    };
    let version = tool.version(&format!(
        "install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` \
         (or set FLAVORBOX_COMPONENTIZE_PY to its path)"
    ))?;
    warn_version("componentize-py", &version, COMPONENTIZE_PY_VERSION);
    let stage = staging(dir, PYTHON_SDK)?;
    eprintln!(
        "building with componentize-py {} (a Python runtime of about 18 MB)…",
        flavorbox::text::escape(&version)
    );
    let mut cmd = tool.command();
    cmd.current_dir(stage.path())
        .arg("-d")
        .arg(stage.path().join("wit"))
        .args(["-w", GENERATED_WORLD, "componentize", "app", "-p"])
        .arg(stage.path())
        .arg("-o")
        .arg(absolute(output)?);
    run_tool(cmd, "componentize-py")?;
    Ok(())
}

fn build_js(dir: &Path, output: &Path) -> Result<()> {
    let install = format!(
        "install it with `npm install @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}` \
         in the project (or set FLAVORBOX_COMPONENTIZE_JS to its `componentize-js` script)"
    );
    let node = Tool {
        program: "node".into(),
        args_before: Vec::new(),
        name: "node",
    };
    node.version("install Node.js 20 or later (it runs componentize-js)")?;
    let local = dir.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    let script = env_tool("FLAVORBOX_COMPONENTIZE_JS").or_else(|| local.is_file().then_some(local));
    let tool = match script {
        Some(script) => Tool {
            program: "node".into(),
            args_before: vec![script.display().to_string()],
            name: "componentize-js",
        },
        None => Tool {
            program: "componentize-js".into(),
            args_before: Vec::new(),
            name: "componentize-js",
        },
    };
    let version = tool.version(&install)?;
    warn_version("componentize-js", &version, COMPONENTIZE_JS_VERSION);
    let stage = staging(dir, JS_SDK)?;
    eprintln!(
        "building with componentize-js {} (a JavaScript engine of about 13 MB)…",
        flavorbox::text::escape(&version)
    );
    let mut cmd = tool.command();
    cmd.current_dir(stage.path())
        .arg(stage.path().join("app.js"))
        .arg("-w")
        .arg(stage.path().join("wit"))
        .args(["-n", GENERATED_WORLD, "-o"])
        .arg(absolute(output)?);
    run_tool(cmd, "componentize-js")?;
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| Error::invalid(format!("bad output path {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_make_classes() {
        assert_eq!(class_name("myvault"), "Myvault");
        assert_eq!(class_name("my-vault_kv"), "MyVaultKv");
    }

    #[test]
    fn names_are_checked() {
        for good in ["a", "myvault", "my-vault", "v2_kv"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "1abc", "My", "a.b", "a b", "a/b", "../x", long.as_str()] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_project_carries_its_contract_and_no_placeholder() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let files = project_files("my-vault", lang);
            assert!(files.iter().any(|(p, _)| p == "wit/flavor.wit"));
            assert!(files.iter().any(|(p, _)| p == "wit/deps/http.wit"));
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{path} keeps a placeholder");
            }
        }
    }
}
