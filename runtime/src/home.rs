//! A flavorbox home: the directory holding the embedded store (flavors,
//! secrets managers, schemas and the `local` flavor's data) and the compile
//! cache. Everything the CLI does goes through a [`Home`].
//!
//! The directory is created private to its owner (0700), as it holds
//! secrets; the engine is created lazily, so commands that never run a
//! flavor never pay for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::capabilities::log::{Level, LogRecord};
use crate::contract::{Request, Response};
use crate::error::{Error, Result};
use crate::sandbox::{CallOutcome, CallSetup, LoadedFlavor, Policy, Sandbox};
use crate::store::{NamespaceTxn, Store};

/// Environment variable that overrides where compiled components are cached
/// (tests share one cache across many homes).
pub const CACHE_DIR_ENV: &str = "FLAVORBOX_CACHE_DIR";

pub struct Home {
    dir: PathBuf,
    store: Store,
    cache_dir: PathBuf,
    sandbox: OnceLock<Arc<Sandbox>>,
}

/// The default home: the platform's data directory.
pub fn default_dir() -> Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("flavorbox"))
        .ok_or_else(|| {
            Error::input("no home directory found; pass --home DIR or set FLAVORBOX_HOME")
        })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Error::input(format!("cannot create home {}: {e}", dir.display())))
}

impl Home {
    /// Opens the home at `dir`, creating it (with an active `default`
    /// secrets manager on the `local` flavor) if it does not exist.
    pub fn open(dir: &Path) -> Result<Home> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::input(format!(
                "home {} is not a directory",
                dir.display()
            )));
        }
        create_private_dir(dir)?;
        let store = Store::open(&dir.join("flavorbox.db"))?;
        let cache_dir = std::env::var_os(CACHE_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("cache"));
        Ok(Home {
            dir: dir.to_path_buf(),
            store,
            cache_dir,
            sandbox: OnceLock::new(),
        })
    }

    /// A home that shares `sandbox` (engine, compiled flavors) with others;
    /// used by `evaluate` and tests to avoid recompiling.
    pub fn open_with_sandbox(dir: &Path, sandbox: Arc<Sandbox>) -> Result<Home> {
        let home = Home::open(dir)?;
        let _ = home.sandbox.set(sandbox);
        Ok(home)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn sandbox(&self) -> Result<&Arc<Sandbox>> {
        if let Some(sandbox) = self.sandbox.get() {
            return Ok(sandbox);
        }
        let sandbox = Arc::new(Sandbox::new(Some(self.cache_dir.clone()))?);
        Ok(self.sandbox.get_or_init(|| sandbox))
    }

    /// Runs one request and forwards the flavor's log lines to `tracing`.
    pub(crate) fn run(
        &self,
        flavor: &LoadedFlavor,
        policy: &Policy,
        storage: Option<Box<dyn NamespaceTxn>>,
        config: BTreeMap<String, String>,
        request: &Request,
    ) -> Result<Response> {
        let outcome = self.run_outcome(flavor, policy, storage, config, request)?;
        outcome.result
    }

    /// Like [`Home::run`], but returns the whole outcome (logs, report).
    pub(crate) fn run_outcome(
        &self,
        flavor: &LoadedFlavor,
        policy: &Policy,
        storage: Option<Box<dyn NamespaceTxn>>,
        config: BTreeMap<String, String>,
        request: &Request,
    ) -> Result<CallOutcome> {
        let setup = CallSetup {
            policy,
            storage,
            config,
        };
        let outcome = self.sandbox()?.call(flavor, setup, request);
        forward_logs(&outcome.logs);
        Ok(outcome)
    }
}

fn forward_logs(records: &[LogRecord]) {
    for record in records {
        let message = &record.message;
        match record.level {
            Level::Trace => tracing::trace!(target: "flavor", "{message}"),
            Level::Debug => tracing::debug!(target: "flavor", "{message}"),
            Level::Info => tracing::info!(target: "flavor", "{message}"),
            Level::Warn => tracing::warn!(target: "flavor", "{message}"),
            Level::Error => tracing::error!(target: "flavor", "{message}"),
        }
    }
}
