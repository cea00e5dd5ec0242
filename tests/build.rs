//! Builds every guest in `guests/` once per change and tells the tests
//! where each component is: `guest_path(name)` in `guests.rs` in OUT_DIR,
//! `name` being the guest's crate name. `local` is left to the runtime's
//! build, which embeds it; tests take it from there.
//!
//! Every test guest (a crate in `guests/testing` that builds a component)
//! must be used by a test: the build fails unless its crate name appears as
//! a string literal (e.g. `guest("hostile_loop")`) in `tests/suites/*.rs`,
//! `tests/src/**/*.rs` or `tests/support/*.rs`. wasmtime's
//! `crates/test-programs` keeps the same promise: every test program has a
//! test.

#[path = "../guests/build_support.rs"]
mod build_support;

use std::path::{Path, PathBuf};

/// Where the tests that may use a guest live, under `tests/`.
const TEST_SOURCES: &[&str] = &["suites", "src", "support"];

fn main() {
    let root = build_support::workspace_root();
    let built = build_support::build_guests(&[], &["local"]);

    let tests = root.join("tests");
    let mut sources = Vec::new();
    for dir in TEST_SOURCES {
        let dir = tests.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        rust_files(&dir, &mut sources);
    }
    let texts: Vec<String> = sources
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("read a test source"))
        .collect();
    let testing = root.join("guests").join("testing");
    let unused: Vec<(&String, &Path)> = built
        .iter()
        .filter(|(_, component)| component.crate_dir.starts_with(&testing))
        .filter(|(name, _)| {
            let literal = format!("\"{name}\"");
            !texts.iter().any(|text| text.contains(&literal))
        })
        .map(|(name, component)| {
            let dir = component.crate_dir.strip_prefix(&root);
            (name, dir.unwrap_or(&component.crate_dir))
        })
        .collect();
    if let Some((example, _)) = unused.first() {
        let list: Vec<String> = unused
            .iter()
            .map(|(name, dir)| format!("  guest crate `{name}` ({})", dir.display()))
            .collect();
        panic!(
            "test guests used by no test:\n{}\n\
             every component crate in guests/testing must be used by a test: name it as a \
             string literal in tests/suites, tests/src or tests/support (e.g. \
             `guest(\"{example}\")`), or delete it",
            list.join("\n"),
        );
    }

    let mut code = String::from(
        "/// Path of the component built from the guest crate `name`.\n\
         pub fn guest_path(name: &str) -> &'static str {\n    match name {\n",
    );
    for (name, component) in &built {
        code.push_str(&format!(
            "        {name:?} => {:?},\n",
            component.wasm.display().to_string()
        ));
    }
    code.push_str("        other => panic!(\"no guest component named `{other}`\"),\n    }\n}\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    std::fs::write(out.join("guests.rs"), code).expect("write guests.rs");
}

/// Appends every `.rs` file under `dir` (recursively) to `found`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("read a test directory").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}
