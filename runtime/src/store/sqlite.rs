//! The store on SQLite (WAL, `synchronous = FULL`): ACID across processes, so
//! several `flavorbox` commands and pipelines can share one home.
//!
//! A file that is not a flavorbox store, or one written by a newer flavorbox,
//! is refused with one line naming the file; nothing is written to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{FlavorRecord, ManagerRecord, NamespaceTxn, TxnMode, Usage};
use crate::error::{Error, Result};
use crate::schema::Schema;

/// Version of the table layout below (`PRAGMA user_version`).
const LAYOUT_VERSION: i64 = 1;

const LAYOUT: &str = "
CREATE TABLE IF NOT EXISTS flavors (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    component BLOB NOT NULL,
    info TEXT NOT NULL,
    policy TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS managers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    flavor TEXT NOT NULL,
    config TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS schemas (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    namespace INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
";

const FIRST_MANAGER: &str = "
INSERT INTO managers (name, flavor, config, active)
SELECT 'default', 'local', '{}', 1 WHERE NOT EXISTS (SELECT 1 FROM managers);
";

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A connection borrowed from the pool; returned when dropped.
struct PooledConnection {
    conn: Option<Connection>,
    pool: Arc<Pool>,
}

impl std::ops::Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.is_autocommit()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(conn);
        }
    }
}

/// The home's store.
#[derive(Clone)]
pub struct Store {
    pool: Arc<Pool>,
}

fn corrupt(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Host(format!(
        "store {} is unreadable or not a flavorbox store ({err})",
        path.display()
    ))
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| corrupt(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| corrupt(path, e))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(|e| corrupt(path, e))?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = open_connection(path)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        if version > LAYOUT_VERSION {
            return Err(Error::Host(format!(
                "store {} was written by a newer flavorbox (layout {version}, this one knows {LAYOUT_VERSION})",
                path.display()
            )));
        }
        if version < LAYOUT_VERSION {
            // A new store starts with an active `default` manager on `local`.
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {LAYOUT} {FIRST_MANAGER} PRAGMA user_version = {LAYOUT_VERSION}; COMMIT;"
            ))
            .map_err(|e| corrupt(path, e))?;
        }
        Ok(Store {
            pool: Arc::new(Pool {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![conn]),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.pool.path
    }

    fn conn(&self) -> Result<PooledConnection> {
        let idle = self.pool.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.pool.path)?,
        };
        Ok(PooledConnection {
            conn: Some(conn),
            pool: self.pool.clone(),
        })
    }

    /// Runs `f` inside one write transaction.
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let conn = conn.conn.as_mut().expect("connection present until drop");
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    // ----- flavors -------------------------------------------------------

    pub fn flavors(&self) -> Result<Vec<FlavorRecord>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT name, digest, info, policy FROM flavors ORDER BY name")?;
        let rows = stmt.query_map([], flavor_from_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn flavor(&self, name: &str) -> Result<Option<FlavorRecord>> {
        let conn = self.conn()?;
        conn.prepare_cached("SELECT name, digest, info, policy FROM flavors WHERE name = ?1")?
            .query_row([name], flavor_from_row)
            .optional()?
            .transpose()
    }

    pub fn flavor_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        conn.query_row(
            "SELECT component FROM flavors WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| match e {
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..) => Error::Host(format!(
                "the stored component of flavor `{name}` is unreadable; the store is corrupt"
            )),
            other => other.into(),
        })
    }

    /// Stores a new flavor; `AlreadyExists` if the name is taken.
    pub fn insert_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO flavors (name, digest, component, info, policy)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![
                    record.name,
                    record.digest,
                    component,
                    to_json(&record.info)?,
                    to_json(&record.policy)?
                ],
            )?;
            if inserted == 0 {
                return Err(Error::AlreadyExists(format!(
                    "flavor `{}` is registered already; remove it first",
                    record.name
                )));
            }
            Ok(())
        })
    }

    /// Removes a flavor no secrets manager uses.
    pub fn remove_flavor(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            let users: Vec<String> = tx
                .prepare("SELECT name FROM managers WHERE flavor = ?1 ORDER BY name")?
                .query_map([name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !users.is_empty() {
                return Err(Error::Denied(format!(
                    "flavor `{name}` is used by secrets manager(s) {}; remove them first",
                    users.join(", ")
                )));
            }
            if tx.execute("DELETE FROM flavors WHERE name = ?1", [name])? == 0 {
                return Err(Error::NotFound(format!(
                    "flavor `{name}` is not registered"
                )));
            }
            Ok(())
        })
    }

    // ----- secrets managers ----------------------------------------------

    pub fn managers(&self) -> Result<Vec<ManagerRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, flavor, config, active FROM managers ORDER BY name",
        )?;
        let rows = stmt.query_map([], manager_from_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn manager(&self, name: &str) -> Result<Option<ManagerRecord>> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "SELECT id, name, flavor, config, active FROM managers WHERE name = ?1",
        )?
        .query_row([name], manager_from_row)
        .optional()?
        .transpose()
    }

    pub fn active_manager(&self) -> Result<Option<ManagerRecord>> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "SELECT id, name, flavor, config, active FROM managers WHERE active = 1",
        )?
        .query_row([], manager_from_row)
        .optional()?
        .transpose()
    }

    /// Adds a secrets manager; the first one, or one asked to, becomes active.
    pub fn insert_manager(
        &self,
        name: &str,
        flavor: &str,
        config: &BTreeMap<String, String>,
        set_active: bool,
    ) -> Result<()> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM managers WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(Error::AlreadyExists(format!(
                    "secrets manager `{name}` exists already"
                )));
            }
            let none_active: bool = tx.query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM managers WHERE active = 1)",
                [],
                |r| r.get(0),
            )?;
            let active = set_active || none_active;
            if active {
                tx.execute("UPDATE managers SET active = 0", [])?;
            }
            tx.execute(
                "INSERT INTO managers (name, flavor, config, active) VALUES (?1, ?2, ?3, ?4)",
                params![name, flavor, to_json(config)?, active],
            )?;
            Ok(())
        })
    }

    pub fn set_active_manager(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM managers WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(Error::NotFound(format!(
                    "secrets manager `{name}` does not exist"
                )));
            }
            tx.execute("UPDATE managers SET active = (name = ?1)", [name])?;
            Ok(())
        })
    }

    /// Removes a secrets manager that is not active and whose namespace is
    /// empty (or, with `purge`, deletes its namespace too).
    pub fn remove_manager(&self, name: &str, purge: bool) -> Result<()> {
        self.write(|tx| {
            let row: Option<(i64, bool)> = tx
                .query_row(
                    "SELECT id, active FROM managers WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((id, active)) = row else {
                return Err(Error::NotFound(format!(
                    "secrets manager `{name}` does not exist"
                )));
            };
            if active {
                return Err(Error::Denied(format!(
                    "secrets manager `{name}` is active; make another one active first"
                )));
            }
            let entries: i64 =
                tx.query_row("SELECT count(*) FROM kv WHERE namespace = ?1", [id], |r| {
                    r.get(0)
                })?;
            if entries > 0 && !purge {
                return Err(Error::Denied(format!(
                    "secrets manager `{name}` still stores {entries} entr{} in this home; \
                     delete its secrets first or pass --purge",
                    if entries == 1 { "y" } else { "ies" }
                )));
            }
            tx.execute("DELETE FROM kv WHERE namespace = ?1", [id])?;
            tx.execute("DELETE FROM managers WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    // ----- user schemas ----------------------------------------------------

    pub fn schemas(&self) -> Result<Vec<Schema>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT definition FROM schemas ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| from_json(&r?)).collect()
    }

    pub fn schema(&self, name: &str) -> Result<Option<Schema>> {
        let conn = self.conn()?;
        let text: Option<String> = conn
            .query_row(
                "SELECT definition FROM schemas WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| from_json(&t)).transpose()
    }

    pub fn insert_schema(&self, schema: &Schema) -> Result<()> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO schemas (name, definition) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![schema.name, to_json(schema)?],
            )?;
            if inserted == 0 {
                return Err(Error::AlreadyExists(format!(
                    "schema `{}` is registered already",
                    schema.name
                )));
            }
            Ok(())
        })
    }

    // ----- namespaces --------------------------------------------------------

    /// A transaction on the namespace of the manager with `id`. The
    /// transaction begins at the first access, so calls that never touch
    /// storage never take a lock.
    pub fn namespace(&self, id: i64, mode: TxnMode) -> Result<SqliteNamespace> {
        Ok(SqliteNamespace {
            conn: self.conn()?,
            namespace: id,
            mode,
            open: false,
        })
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(Error::host)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::Host(format!("store holds an unreadable record: {e}")))
}

fn flavor_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<FlavorRecord>> {
    let info: String = row.get(2)?;
    let policy: String = row.get(3)?;
    Ok((|| {
        Ok(FlavorRecord {
            name: row.get(0)?,
            digest: row.get(1)?,
            info: from_json(&info)?,
            policy: from_json(&policy)?,
        })
    })())
}

fn manager_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ManagerRecord>> {
    let config: String = row.get(3)?;
    let id = row.get(0)?;
    let name = row.get(1)?;
    let flavor = row.get(2)?;
    let active = row.get(4)?;
    Ok(from_json(&config).map(|config| ManagerRecord {
        id,
        name,
        flavor,
        config,
        active,
    }))
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

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("flavorbox.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn writes_commit_together_or_not_at_all() {
        let (_dir, store) = store();
        let mut txn = Box::new(store.namespace(1, TxnMode::Write).unwrap());
        txn.set("a", b"1").unwrap();
        txn.set("b", b"2").unwrap();
        drop(txn);
        let mut txn = Box::new(store.namespace(1, TxnMode::Read).unwrap());
        assert_eq!(txn.list_keys("").unwrap(), Vec::<String>::new());
        drop(txn);

        let mut txn = Box::new(store.namespace(1, TxnMode::Write).unwrap());
        txn.set("a", b"1").unwrap();
        txn.set("b", b"22").unwrap();
        txn.commit().unwrap();
        let mut txn = Box::new(store.namespace(1, TxnMode::Read).unwrap());
        assert_eq!(txn.list_keys("").unwrap(), ["a", "b"]);
        assert_eq!(txn.usage().unwrap(), Usage { keys: 2, bytes: 5 });
        assert_eq!(txn.value_len("b").unwrap(), Some(2));
    }

    #[test]
    fn namespaces_do_not_see_each_other() {
        let (_dir, store) = store();
        let mut one = Box::new(store.namespace(1, TxnMode::Write).unwrap());
        one.set("secrets/x", b"1").unwrap();
        one.commit().unwrap();
        let mut two = Box::new(store.namespace(2, TxnMode::Write).unwrap());
        assert_eq!(two.get("secrets/x").unwrap(), None);
        assert!(two.list_keys("").unwrap().is_empty());
        assert!(!two.delete("secrets/x").unwrap());
    }

    #[test]
    fn prefix_listing_is_exact() {
        let (_dir, store) = store();
        let mut txn = Box::new(store.namespace(1, TxnMode::Write).unwrap());
        for key in ["a/1", "a/2", "a0", "b/1", "a~"] {
            txn.set(key, b"").unwrap();
        }
        assert_eq!(txn.list_keys("a/").unwrap(), ["a/1", "a/2"]);
        assert_eq!(txn.list_keys("a").unwrap(), ["a/1", "a/2", "a0", "a~"]);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        std::fs::write(
            &path,
            b"this is not sqlite, just some text that is long enough",
        )
        .unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("not a flavorbox store"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
