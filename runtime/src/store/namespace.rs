//! One secrets manager's storage namespace inside one SQLite transaction:
//! what the `storage` capability hands a flavor. Every statement is scoped
//! by the namespace id, so no key reaches another manager's data; the
//! transaction begins lazily and is rolled back unless committed.

use rusqlite::{Connection, OptionalExtension, params};

use super::sqlite::PooledConnection;
use super::{NamespaceTxn, SqliteDatabase, TxnMode, Usage};
use crate::error::Result;

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
        })
    }
}

/// One namespace inside one SQLite transaction; see [`NamespaceTxn`].
pub struct SqliteNamespace {
    conn: PooledConnection,
    namespace: i64,
    mode: TxnMode,
    open: bool,
}

impl SqliteNamespace {
    fn begin(&mut self) -> Result<&Connection> {
        if !self.open {
            let sql = match self.mode {
                TxnMode::Read => "BEGIN DEFERRED",
                TxnMode::Write => "BEGIN IMMEDIATE",
            };
            self.conn.prepare_cached(sql)?.execute([])?;
            self.open = true;
        }
        Ok(&self.conn)
    }
}

/// The smallest string greater than every string that starts with `prefix`,
/// for keys of printable ASCII (which the storage capability enforces).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{7f}")
}

impl NamespaceTxn for SqliteNamespace {
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
        self.begin()?
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
            .begin()?
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
        let (keys, bytes): (i64, i64) = self.begin()?.query_row(
            "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0)
             FROM kv WHERE namespace = ?1",
            [ns],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Usage {
            keys: keys as u64,
            bytes: bytes as u64,
        })
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        if self.open {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
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
