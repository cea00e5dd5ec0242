//! `flavorbox flavor new` and `flavorbox flavor build`: a flavor project in
//! Rust, Python or JavaScript, and the component built from it.
//!
//! A new project is self-contained: it carries the contract (`wit/`, the
//! copy this flavorbox was built with, so the component links in this host:
//! 0.2 for Python and JavaScript, whose SDKs speak it, 0.1 for Rust)
//! and, for Python and JavaScript, the SDK that gives the flavor ZenML's
//! `BaseSecretsManager` shape. `build` runs the language's tool (cargo,
//! componentize-py, componentize-js); a project without its own `wit/` or
//! SDK (the repository's examples) is built against the embedded copies.
//!
//! Guards against: overwriting a user's files (`new` refuses a non-empty
//! directory), names that would not make a valid crate, module or flavor,
//! names a flavor has already (built in, shipped with flavorbox, or
//! registered in the home `--home`/`FLAVORBOX_HOME` names, which is read,
//! never created), and a project of no language, or of several, built as
//! one of them.
//! What each language brings is in its own file (`rust.rs`, `python.rs`,
//! `js.rs`); running a tool on a staged copy, in `toolchain.rs`.

mod js;
mod python;
mod rust;
mod toolchain;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use flavorbox::home::STORE_FILE;
use flavorbox::registry::{ReservedName, reserved_name};
use flavorbox::{Error, ErrorKind, Home, Result};

use super::output::out;

/// The world Python and JavaScript flavors are built for: `flavor` plus the
/// `wasi:http` client the host links for every flavor.
const GENERATED_WORLD: &str = "http-flavor";

/// Contract 0.2, as this flavorbox was built with it: the one the Python
/// and JavaScript SDKs speak.
const CONTRACT_0_2: &str = include_str!("../../../wit/0.2/flavor.wit");

/// Contract 0.1, the one a new Rust project starts on.
const CONTRACT_0_1: &str = include_str!("../../../wit/0.1/flavor.wit");

/// The WASI packages every contract version links, as a project's
/// `wit/deps/`.
const WIT_DEPS: &[(&str, &str)] = &[
    (
        "wit/deps/cli.wit",
        include_str!("../../../wit/deps/cli.wit"),
    ),
    (
        "wit/deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "wit/deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    (
        "wit/deps/http.wit",
        include_str!("../../../wit/deps/http.wit"),
    ),
    ("wit/deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "wit/deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "wit/deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
];

/// A project's `wit/`: `contract` laid out flat beside the WASI packages.
fn wit_files(contract: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    std::iter::once(("wit/flavor.wit", contract)).chain(WIT_DEPS.iter().copied())
}

const README: &str = include_str!("../../templates/README.md");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    fn language(self) -> Language {
        match self {
            Lang::Rust => rust::language(),
            Lang::Python => python::language(),
            Lang::Js => js::language(),
        }
    }
}

/// What one language brings to a new project and to a build.
struct Language {
    /// Its name in the README and in messages ("Rust").
    label: &'static str,
    /// Its name as `--lang` takes it.
    arg: &'static str,
    /// The source file the README points at.
    source: &'static str,
    /// The tool that builds it.
    tool: &'static str,
    /// What the README says of the contract version and the SDK the project
    /// carries.
    sdk_note: &'static str,
    /// The README's line that installs the tool.
    install: String,
    /// The project's own files, `{{name}}` and `{{class}}` to fill in.
    templates: &'static [(&'static str, &'static str)],
    /// The SDK's files, carried as they are.
    sdk: &'static [(&'static str, &'static str)],
    /// The contract (`flavor.wit`) the project carries or is built against.
    contract: &'static str,
    gitignore: &'static str,
    /// Builds the project in a directory into a component at a path.
    build: fn(&Path, &Path) -> Result<()>,
}

#[derive(Args)]
pub struct NewArgs {
    /// The flavor's name: a lowercase letter, then lowercase letters, digits,
    /// `-` or `_` (at most 64); not one a flavor has already (built in,
    /// shipped, or registered in the home --home names)
    name: String,
    /// The language of the project
    #[arg(long, value_enum)]
    lang: Lang,
    /// Where to create the project [default: ./NAME]
    dir: Option<PathBuf>,
    /// The home whose registered names are taken (the global --home)
    #[arg(from_global)]
    home: Option<PathBuf>,
    /// The store instead of the home's own (the global --store)
    #[arg(from_global)]
    store: Option<String>,
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

/// Refuses a name a flavor has already: one built in, one bundled,
/// or one registered in the home in `home`, if a home is there (its own
/// store: a `--store` elsewhere is not opened for this). Nothing is created.
fn check_free(name: &str, home: Option<&Path>, store: Option<&str>) -> Result<()> {
    let pick = "pick another name";
    match reserved_name(name) {
        Some(ReservedName::BuiltIn) => {
            return Err(Error::invalid(format!(
                "flavor name `{name}` is the built-in flavor's; {pick}"
            )));
        }
        Some(ReservedName::Bundled) => {
            return Err(Error::invalid(format!(
                "flavor name `{name}` is taken by a flavor bundled with flavorbox; {pick}"
            )));
        }
        None => {}
    }
    let Some(dir) = home.filter(|dir| store.is_none() && dir.join(STORE_FILE).is_file()) else {
        return Ok(());
    };
    let cannot_check = |e: Error| {
        e.map_detail(|why| {
            format!(
                "cannot check the flavors registered in home {}: {why}",
                dir.display()
            )
        })
    };
    let mut builder = Home::builder(dir);
    if let Some(key) = crate::environment::master_key()? {
        builder = builder.master_key(key);
    }
    let home = builder.open().map_err(cannot_check)?;
    match home.flavors().get(name) {
        Ok(_) => Err(Error::invalid(format!(
            "flavor `{name}` is registered in home {} already; {pick} (or upgrade it with \
             `flavor register PATH --replace {name}`)",
            dir.display()
        ))),
        Err(err) if err.is(ErrorKind::NotFound) => Ok(()),
        Err(err) => Err(cannot_check(err)),
    }
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
fn project_files(name: &str, language: &Language) -> Vec<(String, String)> {
    let class = class_name(name);
    let fill = |text: &str| text.replace("{{name}}", name).replace("{{class}}", &class);
    let readme = fill(README)
        .replace("{{install}}", &language.install)
        .replace("{{lang}}", language.label)
        .replace("{{lang_arg}}", language.arg)
        .replace("{{source}}", language.source)
        .replace("{{tool}}", language.tool)
        .replace("{{sdk_note}}", language.sdk_note);
    let mut files = vec![("README.md".to_string(), readme)];
    let templates = language.templates.iter();
    files.extend(templates.map(|(path, text)| (path.to_string(), fill(text))));
    let carried = language
        .sdk
        .iter()
        .copied()
        .chain(wit_files(language.contract));
    files.extend(carried.map(|(path, text)| (path.to_string(), text.to_string())));
    files.push((".gitignore".into(), language.gitignore.into()));
    files
}

pub fn new(args: NewArgs) -> Result<()> {
    check_name(&args.name)?;
    check_free(&args.name, args.home.as_deref(), args.store.as_deref())?;
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
    let language = args.lang.language();
    for (relative, text) in project_files(&args.name, &language) {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_err(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| write_err(&path, e))?;
    }
    out!(
        "created a {} flavor `{}` in {}",
        language.label,
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
    (lang.language().build)(&dir, &output)?;
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
    fn python_and_js_projects_carry_contract_0_2_and_rust_ones_0_1() {
        let contract = |lang: Lang| {
            project_files("my-vault", &lang.language())
                .into_iter()
                .find(|(path, _)| path == "wit/flavor.wit")
                .map(|(_, text)| text)
                .unwrap()
        };
        for lang in [Lang::Python, Lang::Js] {
            assert!(contract(lang).starts_with("package flavorbox:secrets@0.2.0;"));
        }
        assert!(contract(Lang::Rust).starts_with("package flavorbox:secrets@0.1.0;"));
    }

    #[test]
    fn every_project_carries_its_contract_and_no_placeholder() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let files = project_files("my-vault", &lang.language());
            assert!(files.iter().any(|(p, _)| p == "wit/flavor.wit"));
            assert!(files.iter().any(|(p, _)| p == "wit/deps/http.wit"));
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{path} keeps a placeholder");
            }
        }
    }
}
