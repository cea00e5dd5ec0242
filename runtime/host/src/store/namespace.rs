//! One secrets manager's storage namespace inside one SQLite transaction.
//! Every statement is scoped by the namespace id, so no key reaches another
//! manager's data; the transaction begins lazily and is rolled back unless
//! committed. A transaction that wrote bumps the namespace's version when it
//! commits, which is what a staged call validates its commit against.
//!
//! No statement waits for a lock past the transaction's deadline: SQLite's
//! busy timeout is set to what is left of it before each one (and restored
//! to the host default when the connection goes back to the pool).

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::sqlite::{BUSY_TIMEOUT, PooledConnection};
use super::{NamespaceTxn, SqliteDatabase, TxnMode, Usage};
use crate::error::{Error, Result};

impl SqliteDatabase {
    /// A transaction on the namespace of the manager with `id`. The
    /// transaction begins at the first access, so calls that never touch
    /// storage never take a lock.
    pub fn sqlite_namespace(&self, id: i64, mode: TxnMode) -> Result<SqliteNamespace> {
        Ok(SqliteNamespace {
            conn: self.conn()?,
            namespace: id,
            mode,
            open: false,
            wrote: false,
            deadline: None,
        })
    }
}

/// One namespace inside one SQLite transaction; see [`NamespaceTxn`].
pub struct SqliteNamespace {
    conn: PooledConnection,
    namespace: i64,
    mode: TxnMode,
    open: bool,
    wrote: bool,
    deadline: Option<Instant>,
}

/// What SQLite reports when a wait for a lock ran out.
fn busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl SqliteNamespace {
    /// Bounds the next statement's wait for a lock by the deadline.
    fn bound_wait(&self) -> Result<()> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            // A zero timeout would make SQLite fail at once even when the
            // lock is free a microsecond later; 1 ms is the least wait.
            self.conn.busy_timeout(left.max(Duration::from_millis(1)))?;
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<&Connection> {
        self.bound_wait()?;
        if !self.open {
            let sql = match self.mode {
                TxnMode::Read => "BEGIN DEFERRED",
                TxnMode::Write => "BEGIN IMMEDIATE",
            };
            self.conn
                .prepare_cached(sql)?
                .execute([])
                .map_err(|e| self.lock_error(e))?;
            self.open = true;
        }
        Ok(&self.conn)
    }

    /// A lock wait that ran out is named as such.
    fn lock_error(&self, err: rusqlite::Error) -> Error {
        if busy(&err) {
            Error::conflict(
                "the store stayed locked by another writer past the call's deadline; \
                 nothing was written"
                    .to_string(),
            )
        } else {
            err.into()
        }
    }

    fn written(&mut self) -> Result<&Connection> {
        self.wrote = true;
        self.begin()
    }
}

/// The smallest string greater than every string that starts with `prefix`,
/// for keys of printable ASCII (which the storage capability enforces).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{7f}")
}

impl NamespaceTxn for SqliteNamespace {
    fn version(&mut self) -> Result<u64> {
        let ns = self.namespace;
        let version: Option<i64> = self
            .begin()?
            .prepare_cached("SELECT version FROM namespace_versions WHERE namespace = ?1")?
            .query_row([ns], |r| r.get(0))
            .optional()?;
        Ok(version.unwrap_or(0) as u64)
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let ns = self.namespace;
        Ok(self
            .begin()?
            .prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")?
            .query_row(params![ns, key], |r| r.get(0))
            .optional()?)
    }

    fn value_len(&mut self, key: &str) -> Result<Option<u64>> {
        let ns = self.namespace;
        Ok(self
            .begin()?
            .prepare_cached("SELECT length(value) FROM kv WHERE namespace = ?1 AND key = ?2")?
            .query_row(params![ns, key], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|len| len as u64))
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let ns = self.namespace;
        self.written()?
            .prepare_cached(
                "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![ns, key, value])?;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let ns = self.namespace;
        let n = self
            .written()?
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")?
            .execute(params![ns, key])?;
        Ok(n > 0)
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>> {
        let ns = self.namespace;
        let end = prefix_end(prefix);
        let conn = self.begin()?;
        let mut stmt = conn.prepare_cached(
            "SELECT key FROM kv WHERE namespace = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
        )?;
        let keys = stmt
            .query_map(params![ns, prefix, end], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    fn usage(&mut self) -> Result<Usage> {
        let ns = self.namespace;
        // Kept by triggers on `kv` (store layout step 5).
        let (keys, bytes): (i64, i64) = self
            .begin()?
            .prepare_cached("SELECT keys, bytes FROM namespace_usage WHERE namespace = ?1")?
            .query_row([ns], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, 0));
        Ok(Usage {
            keys: keys as u64,
            bytes: bytes as u64,
        })
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        if self.open {
            if self.wrote {
                let ns = self.namespace;
                self.conn
                    .prepare_cached(
                        "INSERT INTO namespace_versions (namespace, version) VALUES (?1, 1)
                         ON CONFLICT (namespace) DO UPDATE SET version = version + 1",
                    )?
                    .execute([ns])?;
            }
            self.bound_wait()?;
            self.conn
                .prepare_cached("COMMIT")?
                .execute([])
                .map_err(|e| self.lock_error(e))?;
            self.open = false;
        }
        Ok(())
    }
}

impl Drop for SqliteNamespace {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback leaves the connection mid-transaction; the
            // pool then discards it (it only keeps autocommit connections),
            // and SQLite rolls back when it closes.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if self.deadline.is_some() {
            let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteDatabase) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteDatabase::open(&dir.path().join("flavorbox.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn writes_commit_together_or_not_at_all() {
        let (_dir, store) = store();
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        txn.set("a", b"1").unwrap();
        txn.set("b", b"2").unwrap();
        drop(txn);
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Read).unwrap());
        assert_eq!(txn.list_keys("").unwrap(), Vec::<String>::new());
        drop(txn);

        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        txn.set("a", b"1").unwrap();
        txn.set("b", b"22").unwrap();
        txn.commit().unwrap();
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Read).unwrap());
        assert_eq!(txn.list_keys("").unwrap(), ["a", "b"]);
        assert_eq!(txn.usage().unwrap(), Usage { keys: 2, bytes: 5 });
        assert_eq!(txn.value_len("b").unwrap(), Some(2));
    }

    #[test]
    fn usage_kept_by_the_store_matches_a_recount_after_any_writes() {
        let (_dir, store) = store();
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        for i in 0..50u8 {
            txn.set(&format!("k{i}"), &vec![i; usize::from(i)]).unwrap();
        }
        for i in (0..50u8).step_by(3) {
            txn.set(&format!("k{i}"), b"replaced").unwrap();
        }
        for i in (0..50u8).step_by(7) {
            assert!(txn.delete(&format!("k{i}")).unwrap());
        }
        txn.commit().unwrap();
        // A rolled-back write changes nothing, usage included.
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        txn.set("never", b"committed").unwrap();
        drop(txn);
        let mut other = Box::new(store.sqlite_namespace(2, TxnMode::Write).unwrap());
        other.set("elsewhere", b"x").unwrap();
        other.commit().unwrap();

        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Read).unwrap());
        let mut recount = Usage::default();
        for key in txn.list_keys("").unwrap() {
            recount.keys += 1;
            recount.bytes += (key.len() as u64) + txn.value_len(&key).unwrap().unwrap();
        }
        assert_eq!(txn.usage().unwrap(), recount);
        assert_eq!(recount.keys, 50 - 8);
    }

    #[test]
    fn a_commit_that_wrote_bumps_the_version_and_a_read_does_not() {
        let (_dir, store) = store();
        let mut read = Box::new(store.sqlite_namespace(1, TxnMode::Read).unwrap());
        assert_eq!(read.version().unwrap(), 0);
        read.commit().unwrap();
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        txn.set("a", b"1").unwrap();
        txn.commit().unwrap();
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        txn.delete("a").unwrap();
        txn.commit().unwrap();
        let mut read = Box::new(store.sqlite_namespace(1, TxnMode::Read).unwrap());
        assert_eq!(read.version().unwrap(), 2);
        let mut other = Box::new(store.sqlite_namespace(2, TxnMode::Read).unwrap());
        assert_eq!(other.version().unwrap(), 0, "versions are per namespace");
    }

    #[test]
    fn a_writer_waits_for_the_lock_no_longer_than_its_deadline() {
        let (_dir, store) = store();
        let mut holder = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        holder.set("held", b"1").unwrap();
        let mut waiter = Box::new(store.sqlite_namespace(2, TxnMode::Write).unwrap());
        let started = Instant::now();
        waiter.set_deadline(started + Duration::from_millis(200));
        let err = waiter.set("k", b"v").unwrap_err();
        assert_eq!(err.kind().as_str(), "conflict", "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(waiter);
        holder.commit().unwrap();
    }

    #[test]
    fn namespaces_do_not_see_each_other() {
        let (_dir, store) = store();
        let mut one = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        one.set("secrets/x", b"1").unwrap();
        one.commit().unwrap();
        let mut two = Box::new(store.sqlite_namespace(2, TxnMode::Write).unwrap());
        assert_eq!(two.get("secrets/x").unwrap(), None);
        assert!(two.list_keys("").unwrap().is_empty());
        assert!(!two.delete("secrets/x").unwrap());
    }

    #[test]
    fn prefix_listing_is_exact() {
        let (_dir, store) = store();
        let mut txn = Box::new(store.sqlite_namespace(1, TxnMode::Write).unwrap());
        for key in ["a/1", "a/2", "a0", "b/1", "a~"] {
            txn.set(key, b"").unwrap();
        }
        assert_eq!(txn.list_keys("a/").unwrap(), ["a/1", "a/2"]);
        assert_eq!(txn.list_keys("a").unwrap(), ["a/1", "a/2", "a0", "a~"]);
    }
}
