//! Keeps the promise of `lib.rs` and `docs/architecture.md`: every module of
//! the library imports only modules of its own layer or below. A `crate::x`
//! path to a module of a higher layer anywhere in a module's files (code,
//! tests or doc links) fails this test with the file and the path. So does
//! an outside crate used below the layer it belongs to (the engine below the
//! contract, the HTTP server outside `serve`, a database driver outside its
//! backend's folder of `store`), or the command line's crates used anywhere
//! in the library.

use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may use its own layer and the ones
/// listed before it.
const LAYERS: &[&[&str]] = &[
    &[
        "error",
        "secret",
        "schema",
        "text",
        "mask",
        "reference",
        "environment_names",
    ],
    &["policy"],
    &["contract"],
    &["store"],
    &["capabilities"],
    &["sandbox"],
    &["registry"],
    &["managers"],
    &["home"],
    &["conformance", "evaluate"],
    &["serve"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file of the top-level module `module` (a file or a folder).
fn files_of(src: &Path, module: &str) -> Vec<PathBuf> {
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut found = Vec::new();
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read module folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// The top-level modules named by `crate::<module>` paths in `text`.
fn crate_paths(text: &str) -> Vec<&str> {
    text.match_indices("crate::")
        .filter(|(at, _)| {
            // `flavorbox_crate::x` or `some_crate::` are not ours.
            !text[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, prefix)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn every_module_imports_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut breaches = Vec::new();
    for (index, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            for file in files_of(&src, module) {
                let text = std::fs::read_to_string(&file).expect("read source");
                for used in crate_paths(&text) {
                    match layer_of(used) {
                        Some(used_layer) if used_layer <= index => {}
                        Some(_) => breaches.push(format!(
                            "{} ({module}) uses crate::{used}, a higher layer",
                            file.display()
                        )),
                        None => breaches.push(format!(
                            "{} ({module}) uses crate::{used}, which is in no layer",
                            file.display()
                        )),
                    }
                }
            }
        }
    }
    assert!(breaches.is_empty(), "{}", breaches.join("\n"));
}

/// Where an outside crate may be used.
enum Allowed {
    /// In this layer's modules and the layers above.
    FromLayerOf(&'static str),
    /// Only in files under this path of `src/`.
    Under(&'static str),
    /// Nowhere in the library: it belongs to the `flavorbox` binary.
    Nowhere,
}

/// Outside crates whose use says which layer a file is in.
const CRATES: &[(&str, Allowed)] = &[
    ("wasmtime", Allowed::FromLayerOf("contract")),
    ("wasmtime_wasi", Allowed::FromLayerOf("capabilities")),
    ("wasmtime_wasi_http", Allowed::FromLayerOf("capabilities")),
    ("axum", Allowed::Under("serve")),
    // Each database driver only in its backend's folder: the rules above
    // the backends know no driver.
    ("rusqlite", Allowed::Under("store/sqlite")),
    ("tokio_postgres", Allowed::Under("store/postgres")),
    ("tokio_postgres_rustls", Allowed::Under("store/postgres")),
    ("hyper_util", Allowed::Under("serve")),
    ("clap", Allowed::Nowhere),
    ("clap_complete", Allowed::Nowhere),
    ("clap_mangen", Allowed::Nowhere),
    ("rpassword", Allowed::Nowhere),
    ("tracing_subscriber", Allowed::Nowhere),
    ("dirs", Allowed::Nowhere),
];

/// Whether `text` names the crate `name` as a path (`name::...`).
fn uses_crate(text: &str, name: &str) -> bool {
    text.match_indices(&format!("{name}::"))
        .any(|(at, _)| !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':'))
}

#[test]
fn outside_crates_stay_in_their_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut breaches = Vec::new();
    for (index, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            for file in files_of(&src, module) {
                let text = std::fs::read_to_string(&file).expect("read source");
                let relative = file.strip_prefix(&src).expect("under src");
                for (name, allowed) in CRATES {
                    if !uses_crate(&text, name) {
                        continue;
                    }
                    let fits = match allowed {
                        Allowed::FromLayerOf(lowest) => {
                            layer_of(lowest).is_some_and(|lowest| index >= lowest)
                        }
                        Allowed::Under(path) => relative.starts_with(path),
                        Allowed::Nowhere => false,
                    };
                    if !fits {
                        breaches.push(format!("{} ({module}) uses {name}", file.display()));
                    }
                }
            }
        }
    }
    assert!(breaches.is_empty(), "{}", breaches.join("\n"));
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(!declared.is_empty());
    for module in declared {
        assert!(
            layer_of(module).is_some(),
            "module `{module}` of lib.rs is in no layer of this test (and of docs/architecture.md)"
        );
    }
}

#[test]
fn the_crate_scanner_sees_paths_and_ignores_lookalikes() {
    assert!(uses_crate("use wasmtime::Engine;", "wasmtime"));
    assert!(!uses_crate("use wasmtime_wasi::p2;", "wasmtime"));
    assert!(!uses_crate("x::wasmtime::y", "wasmtime"));
}

#[test]
fn the_scanner_sees_paths_and_ignores_lookalikes() {
    assert_eq!(
        crate_paths("use crate::store::Db; my_crate::z; `crate::home`"),
        ["store", "home"]
    );
}
