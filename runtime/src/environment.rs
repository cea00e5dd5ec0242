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
/// What is logged to stderr (a `tracing` filter, e.g. `flavor=info`).
pub const LOG: &str = "FLAVORBOX_LOG";

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
