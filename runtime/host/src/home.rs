//! A flavorbox home: the directory holding the embedded store (flavors,
//! secrets managers, schemas and the `local` flavor's data) and the compile
//! cache. Everything the CLI does goes through a [`Home`].
//!
//! A home is opened with [`Home::builder`], which takes everything a host
//! configures (the store, the master key, the sandbox) from its caller: the
//! library reads no environment variable and has no default directory.
//!
//! The directory is created private to its owner (0700), as it holds
//! secrets; the engine is created lazily, so commands that never run a
//! flavor never pay for it. What managers store and their config are sealed
//! at rest under the master key: one the host passes in, or the key file
//! [`KEY_FILE`] beside the store (created 0600 with a new home, and never
//! re-created for a store that was sealed with it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::managers::{Manager, Managers};
use crate::registry::{Flavors, Schemas};
use crate::sandbox::{LazySandbox, Sandbox, SandboxConfig};
use crate::store::{self, AccessStore, Database, MasterKey, Sealing};

/// The master key's file in the home (unless a key is passed in).
pub const KEY_FILE: &str = "master.key";
/// The store's file in the home.
pub const STORE_FILE: &str = "flavorbox.db";
/// The compile cache's directory in the home (unless another is set).
pub const CACHE_DIR: &str = "cache";

pub struct Home {
    dir: PathBuf,
    db: Arc<dyn Database>,
    access: Arc<dyn AccessStore>,
    sandbox: Arc<LazySandbox>,
    flavors: Flavors,
    schemas: Schemas,
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Error::invalid(format!("cannot create home {}: {e}", dir.display())))?;
    tighten_home(dir);
    Ok(())
}

/// A home others may enter is made private, with a warning: it holds the
/// store, the key file and the compile cache, which this home creates
/// private, and its own mode is the operator's only slip (the store files
/// are tightened the same way; a key file others may read is refused).
fn tighten_home(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(dir) else {
            return;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => tracing::warn!(
                    "home {} was open to others (mode {:o}); made private (0700)",
                    dir.display(),
                    mode & 0o7777
                ),
                Err(err) => tracing::warn!(
                    "home {} is open to others (mode {:o}) and could not be made private: {err}",
                    dir.display(),
                    mode & 0o7777
                ),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Where a home's sandbox comes from.
enum SandboxSource {
    /// Made on first use, as configured (`cache_dir` defaults to the
    /// home's [`CACHE_DIR`]).
    Own(SandboxConfig),
    /// Shared with other homes (its engine and compiled flavors).
    Shared(Arc<Sandbox>),
}

/// Opens a [`Home`]; see [`Home::builder`].
pub struct HomeBuilder {
    dir: PathBuf,
    store: Option<String>,
    key: Option<MasterKey>,
    sandbox: SandboxSource,
    create_missing: bool,
}

impl HomeBuilder {
    /// Whether a missing directory is created (the default) or refused
    /// with one line naming it: a host that takes the directory from its
    /// user creates only the one it picked itself, so a mistyped path never
    /// becomes a new, empty home with a new master key.
    pub fn create_missing(mut self, create: bool) -> Self {
        self.create_missing = create;
        self
    }

    /// Keeps records and secrets in the store `spec` names (see
    /// [`store::open`]: `sqlite:PATH` or `postgres://…`) instead of the
    /// home's own SQLite file; the directory then holds only the compile
    /// cache and, unless a key is passed in, the master key. With a
    /// `postgres://` store, several homes (`flavorbox serve` nodes) share
    /// every record and secret, and must share the master key.
    pub fn store(mut self, spec: impl Into<String>) -> Self {
        self.store = Some(spec.into());
        self
    }

    /// Seals and opens with `key` instead of the home's key file.
    pub fn master_key(mut self, key: MasterKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the sandbox up as `config` says (made on first use). Without
    /// a cache directory, compiled components are cached in the home.
    pub fn sandbox(mut self, config: SandboxConfig) -> Self {
        self.sandbox = SandboxSource::Own(config);
        self
    }

    /// Shares `sandbox` (its engine and compiled flavors) with other homes;
    /// `evaluate` and tests use it to avoid recompiling.
    pub fn shared_sandbox(mut self, sandbox: Arc<Sandbox>) -> Self {
        self.sandbox = SandboxSource::Shared(sandbox);
        self
    }

    /// Opens the home, creating its directory (0700, unless told not to by
    /// [`HomeBuilder::create_missing`]) and, for a new store,
    /// an active `default` secrets manager on the `local` flavor.
    pub fn open(self) -> Result<Home> {
        let HomeBuilder {
            dir,
            store,
            key,
            sandbox,
            create_missing,
        } = self;
        if dir.exists() && !dir.is_dir() {
            return Err(Error::invalid(format!(
                "home {} is not a directory",
                dir.display()
            )));
        }
        if !create_missing && !dir.exists() {
            return Err(Error::not_found(format!(
                "home {path} does not exist; create it with `flavorbox init {path}` (only the \
                 default home is created on first use)",
                path = dir.display()
            )));
        }
        create_private_dir(&dir)?;
        let sealing = match key {
            Some(key) => Sealing::Key(key),
            None => Sealing::KeyFile(dir.join(KEY_FILE)),
        };
        let opened = match &store {
            Some(spec) => store::open(spec, sealing)?,
            None => store::open_sqlite(&dir.join(STORE_FILE), sealing)?,
        };
        let db = opened.db;
        let sandbox = Arc::new(match sandbox {
            SandboxSource::Own(mut config) => {
                config.cache_dir.get_or_insert_with(|| dir.join(CACHE_DIR));
                LazySandbox::new(config)
            }
            SandboxSource::Shared(sandbox) => LazySandbox::shared(sandbox),
        });
        Ok(Home {
            access: opened.access,
            flavors: Flavors::new(db.clone(), sandbox.clone()),
            schemas: Schemas::new(db.clone()),
            dir,
            db,
            sandbox,
        })
    }
}

impl Home {
    /// A builder for the home in `dir`: its own SQLite store and key file,
    /// and a [`crate::sandbox::Profile::Service`] sandbox caching in the
    /// home, unless told otherwise.
    pub fn builder(dir: impl Into<PathBuf>) -> HomeBuilder {
        HomeBuilder {
            dir: dir.into(),
            store: None,
            key: None,
            sandbox: SandboxSource::Own(SandboxConfig::default()),
            create_missing: true,
        }
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
