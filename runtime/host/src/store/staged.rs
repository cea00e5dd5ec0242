//! A call's view of its secrets manager's namespace: reads come from one
//! consistent snapshot, writes are staged in memory, and the commit applies
//! them in one short write transaction, only if nothing changed meanwhile.
//!
//! Guards against a flavor stalling everyone else: it never holds the
//! store's write lock while it runs (a sleeping or spinning flavor would
//! otherwise make every other writer of the home wait), and no lock wait of
//! its own outlasts its deadline. Guards against lost updates between
//! concurrent calls on one manager (30 parallel `register-secret` of one
//! name must give exactly one success): every commit that writes bumps the
//! namespace's version, and a commit whose snapshot's version is no longer
//! current is refused as [`Commit::Changed`], nothing written, so the caller
//! can run the call again on fresh data. This optimistic scheme needs only a
//! version per namespace, which any backend can keep (PostgreSQL: an
//! `UPDATE ... SET version = version + 1 WHERE version = $seen` in the
//! committing transaction).
//!
//! What a call may stage is bounded ([`caps::STAGED_BYTES`]), so staging
//! costs the host a fixed amount of memory whatever the quota.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::{Database, NamespaceTxn, TxnMode, Usage};
use crate::error::{Error, Result};
use crate::policy::caps;

/// What each staged entry costs besides its key and value bytes.
const ENTRY_OVERHEAD: u64 = 64;

/// Where a manager's namespace lives: opens the transactions a call needs.
#[derive(Clone)]
pub struct NamespaceAccess {
    db: Arc<dyn Database>,
    id: i64,
    /// The namespace version the call's reads must still find (see
    /// [`NamespaceAccess::pinned_at`]).
    pinned: Option<u64>,
}

impl NamespaceAccess {
    pub fn new(db: Arc<dyn Database>, id: i64) -> Self {
        NamespaceAccess {
            db,
            id,
            pinned: None,
        }
    }

    /// Access for a call that must see the namespace exactly as an earlier
    /// call saw it (at `version`): a read-merge-write spread over two calls
    /// (`update`: get, merge, update). If another call wrote meanwhile, its
    /// first storage access fails as a `conflict` and nothing is written,
    /// so the caller can read again and merge on fresh data instead of
    /// overwriting what the other call wrote.
    pub fn pinned_at(mut self, version: u64) -> Self {
        self.pinned = Some(version);
        self
    }

    /// The namespace's version now: what a watcher of the manager's
    /// secrets compares (the managers' change feed).
    pub fn version(&self) -> Result<u64> {
        self.db.namespace(self.id, TxnMode::Read)?.version()
    }

    /// Bumps the namespace's version without writing to it: the manager's
    /// secrets changed where its storage does not see (see
    /// [`super::NamespaceTxn::mark_changed`]). No wait outlasts `deadline`.
    pub fn mark_changed(&self, deadline: Instant) -> Result<()> {
        let mut txn = self.db.namespace(self.id, TxnMode::Write)?;
        txn.set_deadline(deadline);
        txn.mark_changed();
        txn.commit()
    }

    /// A fresh staged view for one run of a call that must end by
    /// `deadline`. Nothing is opened until the flavor first touches storage.
    pub fn stage(&self, deadline: Instant) -> Staged {
        Staged {
            access: self.clone(),
            deadline,
            snapshot: None,
            seen: 0,
            writes: BTreeMap::new(),
            staged_bytes: 0,
            usage: None,
        }
    }
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// The staged writes (if any) are in the store.
    Applied,
    /// Another call wrote to the namespace after this one's snapshot;
    /// nothing was written.
    Changed,
}

/// One call's reads and staged writes; see the module documentation.
/// Dropping it discards the staged writes.
pub struct Staged {
    access: NamespaceAccess,
    deadline: Instant,
    snapshot: Option<Box<dyn NamespaceTxn>>,
    /// The namespace's version in the snapshot.
    seen: u64,
    /// Staged writes: `Some(value)` to set, `None` to delete.
    writes: BTreeMap<String, Option<Vec<u8>>>,
    staged_bytes: u64,
    /// The namespace's usage with the staged writes, once a write needed it.
    usage: Option<Usage>,
}

fn staged_cost(key: &str, value: &Option<Vec<u8>>) -> u64 {
    key.len() as u64 + value.as_ref().map_or(0, |v| v.len() as u64) + ENTRY_OVERHEAD
}

fn entry_bytes(key: &str, value_len: u64) -> u64 {
    key.len() as u64 + value_len
}

impl Staged {
    /// The read snapshot, opened (and its version read) at first use.
    fn snapshot(&mut self) -> Result<&mut Box<dyn NamespaceTxn>> {
        if self.snapshot.is_none() {
            let mut txn = self.access.db.namespace(self.access.id, TxnMode::Read)?;
            txn.set_deadline(self.deadline);
            self.seen = txn.version()?;
            self.snapshot = Some(txn);
            if self.access.pinned.is_some_and(|pinned| pinned != self.seen) {
                return Err(Error::conflict(
                    "the secrets manager's storage changed since it was read; nothing was written"
                        .to_string(),
                ));
            }
        }
        Ok(self.snapshot.as_mut().expect("opened above"))
    }

    /// The namespace version the call's reads saw, if it read storage and
    /// staged no write (a call that writes changes the version).
    pub fn version_seen(&self) -> Option<u64> {
        match &self.snapshot {
            Some(_) if self.writes.is_empty() => Some(self.seen),
            _ => None,
        }
    }

    /// Whether the call staged any write.
    pub fn wrote(&self) -> bool {
        !self.writes.is_empty()
    }

    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.writes.get(key) {
            Some(staged) => Ok(staged.clone()),
            None => self.snapshot()?.get(key),
        }
    }

    /// The length of the value under `key`, with the staged writes.
    pub fn value_len(&mut self, key: &str) -> Result<Option<u64>> {
        match self.writes.get(key) {
            Some(staged) => Ok(staged.as_ref().map(|v| v.len() as u64)),
            None => self.snapshot()?.value_len(key),
        }
    }

    /// Keys starting with `prefix`, with the staged writes, sorted bytewise.
    pub fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = self.snapshot()?.list_keys(prefix)?;
        if self.writes.is_empty() {
            return Ok(keys);
        }
        let staged = self
            .writes
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix));
        let mut removed = Vec::new();
        for (key, value) in staged {
            match value {
                Some(_) => keys.push(key.clone()),
                None => removed.push(key.as_str()),
            }
        }
        keys.sort_unstable();
        keys.dedup();
        keys.retain(|k| removed.binary_search(&k.as_str()).is_err());
        Ok(keys)
    }

    /// The namespace's usage as it would be after a commit.
    pub fn usage(&mut self) -> Result<Usage> {
        match self.usage {
            Some(usage) => Ok(usage),
            None => {
                // Loaded before the first write is staged, so the snapshot's
                // usage is the effective one.
                let usage = self.snapshot()?.usage()?;
                self.usage = Some(usage);
                Ok(usage)
            }
        }
    }

    /// Stages `value` under `key`.
    pub fn set(&mut self, key: &str, value: Vec<u8>) -> Result<(), StageError> {
        self.stage(key, Some(value))
    }

    /// Stages the deletion of `key`; whether it existed.
    pub fn delete(&mut self, key: &str) -> Result<bool, StageError> {
        let existed = self.value_len(key)?.is_some();
        if existed {
            self.stage(key, None)?;
        }
        Ok(existed)
    }

    fn stage(&mut self, key: &str, value: Option<Vec<u8>>) -> Result<(), StageError> {
        let mut usage = self.usage()?;
        let old = self.value_len(key)?;
        let replaced = self.writes.get(key).map_or(0, |old| staged_cost(key, old));
        let staged_bytes = self.staged_bytes - replaced + staged_cost(key, &value);
        if staged_bytes > caps::STAGED_BYTES {
            return Err(StageError::TooMuch(staged_bytes));
        }
        if let Some(len) = old {
            usage.keys -= 1;
            usage.bytes -= entry_bytes(key, len);
        }
        if let Some(value) = &value {
            usage.keys += 1;
            usage.bytes += entry_bytes(key, value.len() as u64);
        }
        self.usage = Some(usage);
        self.staged_bytes = staged_bytes;
        self.writes.insert(key.to_string(), value);
        Ok(())
    }

    /// Ends the snapshot and, if the call staged writes, applies them in one
    /// write transaction, provided the namespace's version is still the
    /// snapshot's. No wait outlasts the deadline (a lock held past it is a
    /// `conflict` error); a failure leaves the store as it was.
    pub fn commit(mut self) -> Result<Commit> {
        // The snapshot ends here, so the write transaction below reads the
        // current version.
        drop(self.snapshot.take());
        if self.writes.is_empty() {
            return Ok(Commit::Applied);
        }
        let mut txn = self.access.db.namespace(self.access.id, TxnMode::Write)?;
        txn.set_deadline(self.deadline);
        if txn.version()? != self.seen {
            return Ok(Commit::Changed);
        }
        for (key, value) in std::mem::take(&mut self.writes) {
            match value {
                Some(value) => txn.set(&key, &value)?,
                None => {
                    txn.delete(&key)?;
                }
            }
        }
        txn.commit()?;
        Ok(Commit::Applied)
    }
}

/// Why a write could not be staged.
#[derive(Debug)]
pub enum StageError {
    /// The call's staged writes would pass [`caps::STAGED_BYTES`] (the
    /// total they would reach).
    TooMuch(u64),
    /// The store failed while the write was checked.
    Store(Error),
}

impl From<Error> for StageError {
    fn from(err: Error) -> Self {
        StageError::Store(err)
    }
}

/// The staged view's own logic. How commits of concurrent calls meet on
/// each backend (conflicts, pinned versions, locks) is tested against both
/// backends by the store suite (`tests/suites/store/namespaces.rs`).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteDatabase;
    use std::time::Duration;

    fn access() -> (tempfile::TempDir, NamespaceAccess) {
        let dir = tempfile::tempdir().unwrap();
        let db: Arc<dyn Database> = Arc::new(SqliteDatabase::open(&dir.path().join("db")).unwrap());
        (dir, NamespaceAccess::new(db, 1))
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn read(access: &NamespaceAccess, key: &str) -> Option<Vec<u8>> {
        access.stage(soon()).get(key).unwrap()
    }

    #[test]
    fn staged_writes_are_seen_by_the_call_and_by_no_one_else_until_commit() {
        let (_dir, access) = access();
        let mut call = access.stage(soon());
        call.set("secrets/a", b"1".to_vec()).unwrap();
        call.set("secrets/b", b"22".to_vec()).unwrap();
        assert!(call.delete("secrets/b").unwrap());
        assert!(!call.delete("secrets/none").unwrap());
        assert_eq!(call.get("secrets/a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(call.list_keys("secrets/").unwrap(), ["secrets/a"]);
        assert_eq!(call.usage().unwrap(), Usage { keys: 1, bytes: 10 });
        assert_eq!(
            read(&access, "secrets/a"),
            None,
            "not visible before commit"
        );
        assert_eq!(call.commit().unwrap(), Commit::Applied);
        assert_eq!(read(&access, "secrets/a"), Some(b"1".to_vec()));
    }

    #[test]
    fn staging_is_capped() {
        let (_dir, access) = access();
        let mut call = access.stage(soon());
        let big = vec![0u8; 4 * 1024 * 1024];
        for i in 0..3 {
            call.set(&format!("k{i}"), big.clone()).unwrap();
        }
        // Rewriting a key replaces its cost rather than adding to it.
        call.set("k0", big.clone()).unwrap();
        assert!(matches!(
            call.set("k3", big.clone()),
            Err(StageError::TooMuch(_))
        ));
    }
}
