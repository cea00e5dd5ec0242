//! The narrow interface a storage engine implements: run statements on rows,
//! inside the transactions it is asked for, and turn its driver's failures
//! into the host's errors.
//!
//! Guards against the two backends drifting apart: nothing here checks a
//! rule or words a message for the user. Whether a flavor may be removed,
//! which manager is active, what a missing record is called, how records
//! are encoded and what is sealed are decided once, above this interface
//! (`store::rules`, `store::sealed`), for SQLite (`store::sqlite`) and
//! PostgreSQL (`store::postgres`) alike. A backend answers "how many rows
//! changed" and "what row is there"; the caller makes that a rule.
//!
//! Records cross this interface as rows of text and bytes ([`FlavorRow`],
//! [`ManagerRow`]): a backend never decodes a policy, a schema or a config;
//! it stores their JSON (config values sealed when the store is).

use std::time::{Duration, Instant};

use super::access::{AuditChain, AuditEntry, AuditFilter, AuditLink, TokenRecord};
use super::{TxnMode, Usage};
use crate::error::Result;

/// One storage engine behind a [`super::Store`].
pub trait Backend: Clone + Send + Sync + 'static {
    /// The host records and the access log on one connection.
    type Rows: RecordRows + AccessRows;
    /// One manager's namespace in one transaction.
    type Namespace: NamespaceRows + 'static;
    /// A named lock, held until dropped.
    type Held;

    /// Rows outside a transaction: each statement commits on its own.
    fn rows(&self) -> Result<Self::Rows>;
    /// Rows inside one write transaction that serializes with every other
    /// `write` on the store, from any process or node (so a rule checked
    /// inside it still holds at commit). Committed by
    /// [`RecordRows::commit`]; rolled back when dropped.
    fn write(&self) -> Result<Self::Rows>;
    /// A transaction on the namespace `id`, begun at its first statement
    /// (see [`NamespaceRows`]).
    fn namespace(&self, id: i64, mode: TxnMode) -> Result<Self::Namespace>;
    /// Takes the lock named `key`, which every user of the store sees,
    /// waiting for it no longer than `wait`; `None` when the wait ran out.
    fn lock(&self, key: &str, wait: Duration) -> Result<Option<Self::Held>>;
}

/// A registered flavor as stored: its description and policy are JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlavorRow {
    pub name: String,
    pub digest: String,
    pub description: String,
    pub policy: String,
    /// Registered from the component bundled with a flavorbox binary.
    pub bundled: bool,
}

/// A secrets manager as stored: config (its values sealed when the store
/// is) and limits are JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerRow {
    pub id: i64,
    pub name: String,
    pub flavor: String,
    pub config: String,
    pub limits: String,
    pub active: bool,
}

/// The rows of the host's records. Every method is one statement (or a
/// few that belong together, such as a namespace's tables), run in
/// whatever transaction the rows are in.
pub trait RecordRows {
    /// Commits the transaction [`Backend::write`] began (nothing to do for
    /// rows outside one).
    fn commit(self) -> Result<()>;

    fn flavors(&mut self) -> Result<Vec<FlavorRow>>;
    fn flavor(&mut self, name: &str) -> Result<Option<FlavorRow>>;
    fn flavor_component(&mut self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Whether it was inserted (not: the name is taken).
    fn insert_flavor(&mut self, row: &FlavorRow, component: &[u8]) -> Result<bool>;
    /// Replaces digest, component, description and policy of the flavor
    /// `row.name`; whether there was one.
    fn update_flavor(&mut self, row: &FlavorRow, component: &[u8]) -> Result<bool>;
    /// Whether there was such a flavor.
    fn update_flavor_policy(&mut self, name: &str, policy: &str) -> Result<bool>;
    /// Whether there was such a flavor.
    fn delete_flavor(&mut self, name: &str) -> Result<bool>;

    /// Every manager, by name.
    fn managers(&mut self) -> Result<Vec<ManagerRow>>;
    fn manager(&mut self, name: &str) -> Result<Option<ManagerRow>>;
    fn active_manager(&mut self) -> Result<Option<ManagerRow>>;
    /// The names of the managers on `flavor`, sorted.
    fn managers_on(&mut self, flavor: &str) -> Result<Vec<String>>;
    /// Inserts an inactive manager with a new id (never one used before).
    fn insert_manager(
        &mut self,
        name: &str,
        flavor: &str,
        config: &str,
        limits: &str,
    ) -> Result<()>;
    /// Whether there was such a manager.
    fn update_manager_config(&mut self, name: &str, config: &str) -> Result<bool>;
    /// Marks the manager `name` active and every other one inactive.
    fn make_active(&mut self, name: &str) -> Result<()>;
    fn delete_manager(&mut self, id: i64) -> Result<()>;
    /// How many entries the namespace `id` holds.
    fn namespace_entries(&mut self, id: i64) -> Result<u64>;
    /// Deletes the namespace `id`: its entries, version, usage and record
    /// of writes.
    fn delete_namespace(&mut self, id: i64) -> Result<()>;

    /// Every user schema's definition (JSON), by name.
    fn schemas(&mut self) -> Result<Vec<String>>;
    fn schema(&mut self, name: &str) -> Result<Option<String>>;
    /// Whether it was inserted (not: the name is taken).
    fn insert_schema(&mut self, name: &str, definition: &str) -> Result<bool>;
    /// Whether there was such a schema.
    fn delete_schema(&mut self, name: &str) -> Result<bool>;

    /// The layout the store records (see `layout`).
    fn layout_version(&mut self) -> Result<i64>;

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Whether it was inserted (not: `key` is set already).
    fn insert_meta(&mut self, key: &str, value: &[u8]) -> Result<bool>;
    fn delete_meta(&mut self, key: &str) -> Result<()>;

    fn compiled_checksum(&mut self, entry: &str) -> Result<Option<String>>;
    /// Inserts or replaces the checksum recorded for `entry`.
    fn record_compiled(&mut self, entry: &str, checksum: &str) -> Result<()>;
}

/// The rows of tokens and the audit log.
pub trait AccessRows {
    fn insert_token(&mut self, record: &TokenRecord, sha256: &str) -> Result<()>;
    fn token(&mut self, id: &str) -> Result<Option<TokenRecord>>;
    fn token_by_hash(&mut self, sha256: &str) -> Result<Option<TokenRecord>>;
    /// Every token, oldest first.
    fn tokens(&mut self) -> Result<Vec<TokenRecord>>;
    /// Sets the token's revocation time.
    fn set_token_revoked(&mut self, id: &str, at_ms: i64) -> Result<()>;
    /// Sets the token's last use to `at_ms` unless it was later already.
    fn set_token_used(&mut self, id: &str, at_ms: i64) -> Result<()>;
    /// Sets the revocation time of every token of the manager `manager_id`
    /// not revoked yet.
    fn revoke_tokens_of(&mut self, manager_id: i64, at_ms: i64) -> Result<()>;
    /// Inserts the records with their sequence numbers and links.
    fn insert_audit(&mut self, records: &[AuditRecord]) -> Result<()>;
    /// The latest `limit` entries `filter` selects, oldest first.
    fn audit(&mut self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>>;
    /// The records after `seq`, by sequence number, at most `limit`.
    fn audit_after(&mut self, seq: i64, limit: u32) -> Result<Vec<AuditRecord>>;
    /// Where the chain starts and ends.
    fn audit_chain(&mut self) -> Result<AuditChain>;
    fn set_audit_head(&mut self, head: &AuditLink) -> Result<()>;
    fn set_audit_pruned(&mut self, pruned: &AuditLink) -> Result<()>;
    /// The greatest sequence number of a record begun before `at_ms`.
    fn audit_newest_before(&mut self, at_ms: i64) -> Result<Option<i64>>;
    /// The last linked record with `after < seq <= through`.
    fn audit_link_through(&mut self, after: i64, through: i64) -> Result<Option<AuditLink>>;
    /// Deletes the records with `seq <= through`; how many.
    fn delete_audit_through(&mut self, through: i64) -> Result<u64>;
}

/// An audit record as stored: its entry, sequence number and link (none
/// on a record from before the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub hash: Option<String>,
    pub entry: AuditEntry,
}

/// One namespace's rows inside one transaction, begun at the first
/// statement and rolled back when dropped uncommitted. Every statement is
/// scoped by the namespace's id. A `Write` transaction holds what keeps
/// another writer of the namespace out from its first statement to its
/// end; a `Read` one reads one snapshot and keeps no writer out.
pub trait NamespaceRows: Send {
    /// No statement waits for a lock past `deadline`; one that would fails
    /// as a `conflict`, nothing written.
    fn set_deadline(&mut self, deadline: Instant);
    /// The namespace's version (0 for one never written).
    fn version(&mut self) -> Result<u64>;
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    fn value_len(&mut self, key: &str) -> Result<Option<u64>>;
    /// Inserts or replaces.
    fn put(&mut self, key: &str, value: &[u8]) -> Result<()>;
    /// Whether the key existed.
    fn delete(&mut self, key: &str) -> Result<bool>;
    /// The keys `k` with `from <= k < to`, sorted bytewise.
    fn keys_in(&mut self, from: &str, to: &str) -> Result<Vec<String>>;
    /// The namespace's entries and key plus value bytes, from the row the
    /// store keeps up to date as it writes (never a sum over the entries).
    fn usage(&mut self) -> Result<Usage>;
    /// Adds one to the namespace's version.
    fn bump_version(&mut self) -> Result<()>;
    /// Page `page` of the namespace's record of writes (`store::writes`).
    fn write_page(&mut self, page: u16) -> Result<Option<Vec<u8>>>;
    /// Inserts or replaces page `page` of the record of writes.
    fn put_write_page(&mut self, page: u16, data: &[u8]) -> Result<()>;
    fn commit(self) -> Result<()>;
}
