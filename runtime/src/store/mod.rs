//! The embedded store behind a flavorbox home.
//!
//! Two kinds of data live here: the host's own records (registered flavors,
//! secrets managers, user schemas) and each secrets manager's private
//! key-value namespace that its flavor reaches through the `storage`
//! capability. The capability only ever sees a [`NamespaceTxn`]: one
//! namespace, one transaction, so no key can reach another manager's data and
//! a call's writes become visible all at once or not at all.

mod namespace;
mod records;
mod sqlite;

pub use namespace::SqliteNamespace;
pub use sqlite::Store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Whether a call is expected to write. Writers take the store's write lock
/// up front, so two concurrent writers serialize instead of racing
/// (read-check-write in `register-secret` stays correct across processes).
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
/// Dropping it without [`NamespaceTxn::commit`] rolls back every write.
pub trait NamespaceTxn: Send {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The length of the value stored under `key`, without reading it.
    fn value_len(&mut self, key: &str) -> Result<Option<u64>>;
    fn set(&mut self, key: &str, value: &[u8]) -> Result<()>;
    /// Whether the key existed.
    fn delete(&mut self, key: &str) -> Result<bool>;
    /// Keys starting with `prefix`, sorted bytewise.
    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>>;
    fn usage(&mut self) -> Result<Usage>;
    fn commit(self: Box<Self>) -> Result<()>;
}

/// A registered flavor, without its component bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorRecord {
    pub name: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    pub info: crate::flavors::FlavorDescription,
    pub policy: crate::sandbox::Policy,
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
    pub active: bool,
}
