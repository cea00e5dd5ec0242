//! Builds every guest in `guests/` once per change and writes one constant
//! per component into `guests.rs` in OUT_DIR, which the support library
//! includes as `flavorbox_tests::guests` (e.g. `guests::HOSTILE_LOOP`, named
//! after the guest's crate name), as wasmtime's `crates/test-programs`
//! artifacts do. A test that names a guest that does not exist does not
//! compile. The flavors the host library embeds (`local` and the bundled
//! ones) are left to its build; their constants (`guests::LOCAL`,
//! `guests::AWS`, ...) are written by hand.
//!
//! Every test guest (a crate in `guests/testing` that builds a component)
//! must be used by a test: the build fails unless its constant appears, as
//! a whole word outside a `//` comment, in `tests/suites`, `tests/benches`
//! or `tests/src`. wasmtime's `crates/test-programs` keeps the same promise:
//! every test program has a test.

use std::path::{Path, PathBuf};

/// Where the code that may use a guest lives, under `tests/`.
const TEST_SOURCES: &[&str] = &["suites", "benches", "src"];

fn main() {
    let root = flavorbox_guest_build::workspace_root();
    let built = flavorbox_guest_build::build_guests(&[], flavorbox_guest_build::EMBEDDED_FLAVORS);

    let tests = root.join("tests");
    let mut sources = Vec::new();
    for dir in TEST_SOURCES {
        let dir = tests.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        rust_files(&dir, &mut sources);
    }
    let code: Vec<String> = sources
        .iter()
        .map(|path| {
            without_line_comments(&std::fs::read_to_string(path).expect("read a test source"))
        })
        .collect();
    let testing = root.join("guests").join("testing");
    let unused: Vec<String> = built
        .iter()
        .filter(|(_, component)| component.crate_dir.starts_with(&testing))
        .filter(|(name, _)| {
            let constant = constant_name(name);
            !code.iter().any(|text| has_word(text, &constant))
        })
        .map(|(name, component)| {
            let dir = component.crate_dir.strip_prefix(&root);
            format!(
                "  guests::{} (crate `{name}`, {})",
                constant_name(name),
                dir.unwrap_or(&component.crate_dir).display()
            )
        })
        .collect();
    if !unused.is_empty() {
        panic!(
            "test guests used by no test:\n{}\n\
             every component crate in guests/testing must be used by a test: use its \
             constant in tests/suites, tests/benches or tests/src, or delete the crate",
            unused.join("\n"),
        );
    }

    let mut generated = String::new();
    for (name, component) in &built {
        let dir = component.crate_dir.strip_prefix(&root);
        generated.push_str(&format!(
            "/// The component of `{}` (crate `{name}`).\n\
             pub const {}: Guest = Guest::built({name:?}, {:?});\n",
            dir.unwrap_or(&component.crate_dir).display(),
            constant_name(name),
            component.wasm.display().to_string(),
        ));
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    std::fs::write(out.join("guests.rs"), generated).expect("write guests.rs");
}

/// The constant of the guest crate `name`: `hostile_loop` is `HOSTILE_LOOP`.
fn constant_name(name: &str) -> String {
    name.to_ascii_uppercase()
}

/// `text` without what follows `//` on each line (a URL's `://` is kept).
fn without_line_comments(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    for line in text.lines() {
        let mut end = line.len();
        let mut from = 0;
        while let Some(at) = line[from..].find("//") {
            let at = from + at;
            if !line[..at].ends_with(':') {
                end = at;
                break;
            }
            from = at + 2;
        }
        kept.push_str(&line[..end]);
        kept.push('\n');
    }
    kept
}

/// Whether `word` stands in `text` as a whole identifier.
fn has_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
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
