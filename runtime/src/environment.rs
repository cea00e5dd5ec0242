//! Every environment variable the `flavorbox` command reads, in one place.
//!
//! The host library reads none: what these say is passed down explicitly
//! (`Home::builder`, `SandboxConfig`, `Remote::new`). Keeping them here is
//! also what lets `run` keep flavorbox's own credentials from the programs
//! it starts, and the manual list them all.
//!
//! Variables that clap reads as the default of a flag (`FLAVORBOX_HOME`,
//! `FLAVORBOX_STORE`, `FLAVORBOX_SERVER`) are named here too.

use std::path::PathBuf;

use flavorbox::store::sealed::{KeySource, MasterKey};
use flavorbox::{Error, Result};
use zeroize::Zeroizing;

/// The home directory (`--home`).
pub const HOME: &str = "FLAVORBOX_HOME";
/// The store instead of the home's own file (`--store`).
pub const STORE: &str = "FLAVORBOX_STORE";
/// A `flavorbox serve` node to run commands on (`--server`).
pub const SERVER: &str = "FLAVORBOX_SERVER";
/// The token presented to `--server`.
pub const TOKEN: &str = "FLAVORBOX_TOKEN";
/// A PEM file of CA certificates trusted for an `https://` server, besides
/// the public roots.
pub const SERVER_CA: &str = "FLAVORBOX_SERVER_CA";
/// The master key (base64 or hex of 32 bytes), used instead of the home's
/// key file.
pub const MASTER_KEY: &str = "FLAVORBOX_MASTER_KEY";
/// Where compiled components are cached, instead of the home's `cache/`.
pub const CACHE_DIR: &str = "FLAVORBOX_CACHE_DIR";
/// The offline cache's maximum age (`--cache`).
pub const CACHE_TTL: &str = "FLAVORBOX_CACHE_TTL";
/// What is logged to stderr (a `tracing` filter, e.g. `flavor=info`).
pub const LOG: &str = "FLAVORBOX_LOG";
/// The `componentize-py` program `flavor build` runs for a Python project.
pub const COMPONENTIZE_PY: &str = "FLAVORBOX_COMPONENTIZE_PY";
/// The `componentize-js` script `flavor build` runs for a JavaScript
/// project, instead of the project's own.
pub const COMPONENTIZE_JS: &str = "FLAVORBOX_COMPONENTIZE_JS";

/// Every variable above, with what it means: the manual's ENVIRONMENT
/// (a test finds every `FLAVORBOX_` name in this crate's source here).
pub const ALL: &[(&str, &str)] = &[
    (
        HOME,
        "The home directory (as --home): the store, its master key, registered flavors and \
         the compile cache. Default: the platform data directory, e.g. \
         ~/.local/share/flavorbox.",
    ),
    (
        STORE,
        "The store instead of the home's own SQLite file (as --store): sqlite:PATH or \
         postgres://USER@HOST:PORT/DATABASE.",
    ),
    (
        SERVER,
        "A flavorbox serve node (http://HOST:PORT) that secret commands run on (as --server).",
    ),
    (
        TOKEN,
        "The API token presented to --server (or give --token-file).",
    ),
    (
        SERVER_CA,
        "A PEM file of CA certificates trusted for an https:// --server, besides the public \
         roots.",
    ),
    (
        MASTER_KEY,
        "The master key (base64 or hex of 32 bytes) that seals the store, instead of the \
         home's master.key file.",
    ),
    (
        CACHE_DIR,
        "Where compiled components are cached, instead of the home's cache/ directory.",
    ),
    (
        CACHE_TTL,
        "With --server: keep the secrets read, sealed, in $XDG_CACHE_HOME/flavorbox/offline \
         and use them while the server cannot be reached, for at most this long after they \
         were read (as --cache, e.g. 12h).",
    ),
    (
        LOG,
        "What is logged to stderr, a tracing filter (default: flavorbox's own warnings; \
         flavor=info shows flavors' log lines).",
    ),
    (
        COMPONENTIZE_PY,
        "The componentize-py program flavor build runs for a Python project.",
    ),
    (
        COMPONENTIZE_JS,
        "The componentize-js script flavor build runs for a JavaScript project, instead \
         of the one in the project's node_modules.",
    ),
];

fn var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// The master key from [`MASTER_KEY`], if set.
pub fn master_key() -> Result<Option<MasterKey>> {
    let Some(text) = var(MASTER_KEY) else {
        return Ok(None);
    };
    let text = Zeroizing::new(text.to_string_lossy().into_owned());
    MasterKey::decode(&text, KeySource::Given(MASTER_KEY.to_string())).map(Some)
}

/// The compile cache directory from [`CACHE_DIR`], if set.
pub fn cache_dir() -> Option<PathBuf> {
    var(CACHE_DIR).map(PathBuf::from)
}

/// Where the offline cache (`--cache`) lives: `flavorbox/offline` in the
/// user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`).
pub fn offline_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("flavorbox").join("offline"))
}

/// The server from [`SERVER`], if set: read here for the commands that
/// refuse it (`secret` commands read it as `--server`'s default).
pub fn server() -> Option<std::ffi::OsString> {
    var(SERVER)
}

/// The CA file from [`SERVER_CA`], if set.
pub fn server_ca() -> Option<PathBuf> {
    var(SERVER_CA).map(PathBuf::from)
}

/// The token from [`TOKEN`], if set.
pub fn token() -> Result<Option<Zeroizing<String>>> {
    match var(TOKEN) {
        None => Ok(None),
        Some(text) => text
            .into_string()
            .map(|t| Some(Zeroizing::new(t)))
            .map_err(|_| Error::invalid(format!("{TOKEN} is not UTF-8 text"))),
    }
}

#[cfg(test)]
mod tests {
    use super::ALL;

    /// `FLAVORBOX_[A-Z_]+` names in `text`.
    fn names_in(text: &str) -> Vec<&str> {
        const PREFIX: &str = "FLAVORBOX_";
        let mut names = Vec::new();
        for (at, _) in text.match_indices(PREFIX) {
            let rest = &text[at + PREFIX.len()..];
            let len = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            if len > 0 {
                names.push(&text[at..at + PREFIX.len() + len]);
            }
        }
        names
    }

    fn sources(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }

    /// Every variable the source names is in the manual's list, once.
    #[test]
    fn every_variable_named_in_the_source_is_listed() {
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 10, "{files:?}");
        let listed: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
        let mut found = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for name in names_in(&text) {
                found += 1;
                assert!(
                    listed.contains(&name),
                    "{} names {name}, missing from environment::ALL",
                    file.display()
                );
            }
        }
        assert!(found >= ALL.len(), "found only {found} names");
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), listed.len(), "{listed:?}");
        assert!(ALL.iter().all(|(_, meaning)| !meaning.is_empty()));
        assert_eq!(
            names_in("FLAVORBOX_* and FLAVORBOX_LOG=x"),
            ["FLAVORBOX_LOG"]
        );
    }
}
