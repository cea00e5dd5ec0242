//! Persistence behind a flavorbox home: one store layer over two backends.
//!
//! Two kinds of data live here: the host's own records (registered flavors,
//! secrets managers, user schemas, metadata, compile-cache checksums) and
//! each secrets manager's private key-value namespace that its flavor
//! reaches through the `storage` capability. The capability only ever sees
//! a [`NamespaceTxn`]: one namespace, one transaction, so no key can reach
//! another manager's data and a call's writes become visible all at once or
//! not at all. Tokens, the audit log and named locks of a served store are
//! behind their own trait ([`AccessStore`]).
//!
//! Guards against the backends disagreeing on a rule, a message or a
//! layout. A [`Store`] checks every rule that spans records (a flavor in
//! use is not removed, one manager is active, ...) and words every message
//! once (`rules`), keeps each namespace's version and seals values at rest, each
//! bound to the write that set it (`namespace`, `sealed`, `writes`), above a narrow [`backend::Backend`] that only
//! runs statements on rows and translates its driver's errors. SQLite (the
//! embedded store, [`SqliteDatabase`]) and PostgreSQL (the one several
//! `flavorbox serve` nodes share, [`PostgresDatabase`]) each live in their
//! own folder with mirrored files (`mod.rs` opens and pools, `migrations`,
//! `records`, `namespaces`, `access`), and share one layout history
//! (`layout`). The store knows nothing of the sandbox or the registry.

pub mod access;
mod audit_chain;
pub mod backend;
mod key;
mod layout;
mod namespace;
mod postgres;
pub mod rotate;
mod rules;
pub mod sealed;
mod sqlite;
pub mod staged;
mod writes;

pub use access::{
    AccessStore, AuditChain, AuditEntry, AuditFilter, AuditLink, AuditRetention, AuditVerdict,
    CHAIN_ORIGIN, Role, TokenRecord, TokenState, chain_link,
};
pub use layout::LAYOUT_VERSION;
pub use postgres::PostgresBackend;
pub use rotate::Rotated;
pub use rules::Store;
pub use sealed::{MasterKey, Sealing};
pub use sqlite::SqliteBackend;
pub use staged::{NamespaceAccess, Staged};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use backend::Backend;

use crate::contract::FlavorDescription;
use crate::error::{Error, Result};
use crate::policy::{ManagerLimits, Policy};
use crate::schema::Schema;

/// The end of every storage key's range: keys are printable ASCII (the
/// storage capability enforces it), so all sort before DEL.
const ALL_KEYS_END: &str = "\u{7f}";

/// The embedded store: one SQLite file.
pub type SqliteDatabase = Store<SqliteBackend>;
/// The shared store: one PostgreSQL database.
pub type PostgresDatabase = Store<PostgresBackend>;

/// Everything a home persists. Each write is one transaction; `Err` carries
/// `NotFound`, `AlreadyExists` or `Denied` for the rules it checks and
/// `Host` when the backend itself fails.
pub trait Database: Send + Sync {
    // Flavors.
    fn flavors(&self) -> Result<Vec<FlavorRecord>>;
    fn flavor(&self, name: &str) -> Result<Option<FlavorRecord>>;
    /// The component bytes of a registered flavor.
    fn flavor_component(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Stores a new flavor; `AlreadyExists` if the name is taken.
    fn insert_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()>;
    /// Replaces a registered flavor's component, description and policy in
    /// place, keeping its managers; `NotFound` if it is not registered.
    fn replace_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()>;
    /// Changes a registered flavor's grants and limits.
    fn set_flavor_policy(&self, name: &str, policy: &Policy) -> Result<()>;
    /// Removes a flavor no secrets manager uses.
    fn remove_flavor(&self, name: &str) -> Result<()>;

    // Secrets managers.
    fn managers(&self) -> Result<Vec<ManagerRecord>>;
    fn manager(&self, name: &str) -> Result<Option<ManagerRecord>>;
    fn active_manager(&self) -> Result<Option<ManagerRecord>>;
    /// Adds a secrets manager; the first one, or one asked to, becomes active.
    fn insert_manager(
        &self,
        name: &str,
        flavor: &str,
        config: &BTreeMap<String, String>,
        limits: &ManagerLimits,
        set_active: bool,
    ) -> Result<()>;
    /// Replaces a manager's config; `NotFound` if there is no such manager.
    fn update_manager_config(&self, name: &str, config: &BTreeMap<String, String>) -> Result<()>;
    fn set_active_manager(&self, name: &str) -> Result<()>;
    /// Removes a secrets manager that is not active and whose namespace is
    /// empty (or, with `purge`, deletes its namespace too), and revokes its
    /// tokens, all in one transaction.
    fn remove_manager(&self, name: &str, purge: bool) -> Result<()>;

    // User schemas.
    fn schemas(&self) -> Result<Vec<Schema>>;
    fn schema(&self, name: &str) -> Result<Option<Schema>>;
    fn insert_schema(&self, schema: &Schema) -> Result<()>;
    /// Removes a user schema; `NotFound` if there is none of that name.
    fn remove_schema(&self, name: &str) -> Result<()>;

    // The store's own metadata (the master key check, migration marks).
    /// The layout the store records now (another node of a newer
    /// flavorbox may have moved it past [`LAYOUT_VERSION`]).
    fn layout_version(&self) -> Result<i64>;
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Records `value` unless `key` is set already; whether it was recorded.
    fn insert_meta(&self, key: &str, value: &[u8]) -> Result<bool>;
    fn delete_meta(&self, key: &str) -> Result<()>;

    /// A transaction on the namespace of the manager with `id`. A call never
    /// holds one while the flavor runs: it reads through a `Read` snapshot
    /// and stages its writes ([`Staged`]); only its commit takes a short
    /// `Write` transaction.
    fn namespace(&self, id: i64, mode: TxnMode) -> Result<Box<dyn NamespaceTxn>>;

    // The compile cache's proof of origin.
    /// The checksum (`blake3:<hex>`) this home recorded for the compile
    /// cache file `entry`, if it wrote one. (Earlier versions recorded a
    /// SHA-256, which no longer matches any file.)
    fn compiled_checksum(&self, entry: &str) -> Result<Option<String>>;
    /// Records the checksum of the compile cache file `entry`.
    fn record_compiled(&self, entry: &str, checksum: &str) -> Result<()>;
}

/// How a namespace transaction locks. `Read` reads one consistent snapshot
/// and never blocks a writer; `Write` takes the store's write lock at its
/// first statement (waiting no longer than its deadline), so two writers
/// serialize instead of racing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnMode {
    Read,
    Write,
}

/// How much of its quota a namespace uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub keys: u64,
    /// Key bytes plus value bytes.
    pub bytes: u64,
}

/// One secrets manager's namespace inside one transaction.
///
/// Dropping it without [`NamespaceTxn::commit`] rolls back every write. On
/// a sealed store, values are sealed below this interface and lengths and
/// usage count plaintext.
pub trait NamespaceTxn: Send {
    /// The namespace's version in this transaction: bumped by every
    /// committed transaction that wrote to the namespace, so a caller that
    /// read version `v` knows nothing changed if it still reads `v`.
    fn version(&mut self) -> Result<u64>;
    /// No statement of this transaction waits for a lock past `deadline`;
    /// one that would fails instead.
    fn set_deadline(&mut self, deadline: Instant);
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The length of the value stored under `key`, without reading it.
    fn value_len(&mut self, key: &str) -> Result<Option<u64>>;
    fn set(&mut self, key: &str, value: &[u8]) -> Result<()>;
    /// Whether the key existed.
    fn delete(&mut self, key: &str) -> Result<bool>;
    /// Keys starting with `prefix`, sorted bytewise.
    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>>;
    fn usage(&mut self) -> Result<Usage>;
    /// Makes the commit bump the namespace's version though nothing in it
    /// was written: a manager's secrets changed outside its storage (a
    /// flavor on an outside backend wrote there), which is what a watcher
    /// of the version must learn.
    fn mark_changed(&mut self);
    /// Commits; a transaction that wrote also bumps the namespace's version.
    fn commit(self: Box<Self>) -> Result<()>;
}

/// A registered flavor, without its component bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlavorRecord {
    pub name: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    pub description: FlavorDescription,
    pub policy: Policy,
    /// Registered from the component bundled with a flavorbox binary
    /// (upgraded with the binary), not from a file an operator gave.
    pub bundled: bool,
}

/// A configured secrets manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerRecord {
    /// Identifies the manager's storage namespace; never reused, so a new
    /// manager that takes an old name starts empty.
    pub id: i64,
    pub name: String,
    pub flavor: String,
    pub config: BTreeMap<String, String>,
    /// Overrides of its flavor's limits.
    pub limits: ManagerLimits,
    pub active: bool,
}

/// An opened store: its records and namespaces, and its tokens and audit
/// log (the same database behind both).
#[derive(Clone)]
pub struct Opened {
    pub db: Arc<dyn Database>,
    pub access: Arc<dyn AccessStore>,
}

impl<B: Backend> From<Store<B>> for Opened {
    fn from(store: Store<B>) -> Self {
        Opened {
            db: Arc::new(store.clone()),
            access: Arc::new(store),
        }
    }
}

/// Which backend a store spec names.
enum Spec<'a> {
    Postgres(&'a str),
    Sqlite(&'a Path),
}

fn parse_spec(spec: &str) -> Result<Spec<'_>> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(Spec::Postgres(spec));
    }
    match spec.strip_prefix("sqlite:") {
        Some(path) if !path.is_empty() => Ok(Spec::Sqlite(Path::new(path))),
        _ => Err(Error::invalid(
            "a store is `sqlite:PATH` or `postgres://USER@HOST:PORT/DATABASE`",
        )),
    }
}

/// Opens the store `spec` names, `sqlite:PATH` or `postgres://...`
/// (`postgresql://` too), sealed under the key `sealing` names.
pub fn open(spec: &str, sealing: Sealing) -> Result<Opened> {
    match parse_spec(spec)? {
        Spec::Postgres(url) => Ok(PostgresDatabase::open(url)?.sealed_by(sealing)?.into()),
        Spec::Sqlite(path) => open_sqlite(path, sealing),
    }
}

/// Opens (creating if needed) the SQLite store at `path`, sealed under the
/// key `sealing` names.
pub fn open_sqlite(path: &Path, sealing: Sealing) -> Result<Opened> {
    Ok(SqliteDatabase::open(path)?.sealed_by(sealing)?.into())
}

/// Re-seals every value of the store `spec` names (as [`open`] takes it)
/// from the master key `old` to `new`, or resumes the rotation to `new` an
/// earlier run began; see [`Store::rotate_key`].
pub fn rotate_key(spec: &str, old: &MasterKey, new: &MasterKey) -> Result<Rotated> {
    match parse_spec(spec)? {
        Spec::Postgres(url) => PostgresDatabase::open(url)?.rotate_key(old, new),
        Spec::Sqlite(path) => SqliteDatabase::open(path)?.rotate_key(old, new),
    }
}
