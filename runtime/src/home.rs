//! A flavorbox home: the directory holding the embedded store (flavors,
//! secrets managers, schemas and the `local` flavor's data) and the compile
//! cache. Everything the CLI does goes through a [`Home`].
//!
//! The directory is created private to its owner (0700), as it holds
//! secrets; the engine is created lazily, so commands that never run a
//! flavor never pay for it. What managers store and their config are sealed
//! at rest under the master key: `FLAVORBOX_MASTER_KEY`, or the key file
//! [`KEY_FILE`] beside the store (created 0600 with a new home, and never
//! re-created for a store that was sealed with it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::managers::{Manager, Managers};
use crate::registry::{Flavors, Schemas};
use crate::sandbox::{LazySandbox, Profile, Sandbox};
use crate::store::sealed::{META_KEY_CHECK, load_key};
use crate::store::{self, AccessStore, Database, SealedDatabase};

/// Environment variable that overrides where compiled components are cached
/// (tests share one cache across many homes).
pub const CACHE_DIR_ENV: &str = "FLAVORBOX_CACHE_DIR";
/// The master key's file in the home (unless `FLAVORBOX_MASTER_KEY` is set).
pub const KEY_FILE: &str = "master.key";
/// The store's file in the home.
pub const STORE_FILE: &str = "flavorbox.db";

pub struct Home {
    dir: PathBuf,
    db: Arc<dyn Database>,
    access: Arc<dyn AccessStore>,
    sandbox: Arc<LazySandbox>,
    flavors: Flavors,
    schemas: Schemas,
}

/// The default home: the platform's data directory.
pub fn default_dir() -> Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("flavorbox"))
        .ok_or_else(|| {
            Error::invalid("no home directory found; pass --home DIR or set FLAVORBOX_HOME")
        })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Error::invalid(format!("cannot create home {}: {e}", dir.display())))
}

impl Home {
    /// Opens the home at `dir`, creating it (with an active `default`
    /// secrets manager on the `local` flavor) if it does not exist.
    pub fn open(dir: &Path) -> Result<Home> {
        Home::open_for(dir, None, Profile::Service)
    }

    /// Opens the home at `dir` on the store `store` names (see
    /// [`store::open`]) instead of its own SQLite file (`None`); the
    /// directory then holds only the compile cache and, unless
    /// `FLAVORBOX_MASTER_KEY` is set, the master key. With a `postgres://`
    /// store, several homes (`flavorbox serve` nodes) share every record and
    /// secret, and must share the master key. The sandbox is set up for
    /// `profile` (the CLI runs one command: [`Profile::OneShot`]).
    pub fn open_for(dir: &Path, store: Option<&str>, profile: Profile) -> Result<Home> {
        let cache_dir = std::env::var_os(CACHE_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("cache"));
        Home::open_in(dir, store, LazySandbox::new(Some(cache_dir), profile))
    }

    /// A home that shares `sandbox` (engine, compiled flavors) with others;
    /// used by `evaluate` and tests to avoid recompiling.
    pub fn open_with_sandbox(dir: &Path, sandbox: Arc<Sandbox>) -> Result<Home> {
        Home::open_in(dir, None, LazySandbox::shared(sandbox))
    }

    /// [`Home::open_for`] sharing `sandbox`, as [`Home::open_with_sandbox`].
    pub fn open_store_with_sandbox(
        dir: &Path,
        store: Option<&str>,
        sandbox: Arc<Sandbox>,
    ) -> Result<Home> {
        Home::open_in(dir, store, LazySandbox::shared(sandbox))
    }

    fn open_in(dir: &Path, store: Option<&str>, sandbox: LazySandbox) -> Result<Home> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::invalid(format!(
                "home {} is not a directory",
                dir.display()
            )));
        }
        create_private_dir(dir)?;
        let opened = match store {
            Some(spec) => store::open(spec)?,
            None => store::open_sqlite(&dir.join(STORE_FILE))?,
        };
        let key = load_key(
            &dir.join(KEY_FILE),
            opened.db.meta(META_KEY_CHECK)?.is_some(),
        )?;
        let db: Arc<dyn Database> = Arc::new(SealedDatabase::open(opened.db, key)?);
        let sandbox = Arc::new(sandbox);
        Ok(Home {
            access: opened.access,
            dir: dir.to_path_buf(),
            flavors: Flavors::new(db.clone(), sandbox.clone()),
            schemas: Schemas::new(db.clone()),
            db,
            sandbox,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The persistence behind this home.
    pub fn db(&self) -> &dyn Database {
        self.db.as_ref()
    }

    /// The persistence behind this home, to share (e.g. with a
    /// [`crate::store::NamespaceAccess`]).
    pub fn shared_db(&self) -> Arc<dyn Database> {
        self.db.clone()
    }

    /// The tokens and audit log of this home's store.
    pub fn access(&self) -> &dyn AccessStore {
        self.access.as_ref()
    }

    /// The tokens and audit log of this home's store, to share.
    pub fn shared_access(&self) -> Arc<dyn AccessStore> {
        self.access.clone()
    }

    pub fn sandbox(&self) -> Result<&Arc<Sandbox>> {
        self.sandbox.get()
    }

    /// The built-in and registered flavors.
    pub fn flavors(&self) -> &Flavors {
        &self.flavors
    }

    /// The built-in and user schemas.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    /// The configured secrets managers.
    pub fn managers(&self) -> Managers<'_> {
        Managers::new(&self.db, &self.flavors, &self.schemas, &self.sandbox)
    }

    /// The named secrets manager (the active one for `None`), ready to take
    /// calls.
    pub fn manager(&self, name: Option<&str>) -> Result<Manager<'_>> {
        self.managers().bind(name)
    }
}
