//! The store on SQLite (WAL, `synchronous = FULL`): ACID across processes, so
//! several `flavorbox` commands and pipelines can share one home. This part
//! opens it (creating or checking the layout) and lends out connections;
//! `records` holds the host's records, `namespace` the managers' storage.
//!
//! A file that is not a flavorbox store, or one written by a newer flavorbox,
//! is refused with one line naming the file; nothing is written to it. So
//! is an empty or truncated file: SQLite would take a 0-byte file for a new
//! database, so a new store is built in a private temporary file and linked
//! into place only once its layout is complete, and an empty store file is
//! never mistaken for a fresh one. The store file (and so the WAL and shared
//! memory files SQLite creates beside it) is 0600. A store that cannot be
//! written (a read-only home) is opened read-only: reads work, and a write
//! fails with one line saying the store is not writable.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// The layout, as steps: step `i` takes a store from layout version `i` to
/// `i + 1` (`PRAGMA user_version`), inside one transaction. Steps are only
/// ever appended, so every older store can be brought up to date and a store
/// written by a newer flavorbox is recognised and refused.
const MIGRATIONS: &[&str] = &[
    FIRST_LAYOUT,
    MANAGER_LIMITS,
    VERSIONS_AND_COMPILED,
    SEALING,
    NAMESPACE_USAGE,
    TOKENS_AND_AUDIT,
];

/// The layout version this build writes.
const LAYOUT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Layout 1: host records, namespaces, and an active `default` manager on
/// `local`.
const FIRST_LAYOUT: &str = "
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
INSERT INTO managers (name, flavor, config, active)
SELECT 'default', 'local', '{}', 1 WHERE NOT EXISTS (SELECT 1 FROM managers);
";

/// Layout 2: per-manager limits (`ManagerLimits` as JSON), overriding the
/// flavor's; existing managers keep their flavor's limits.
const MANAGER_LIMITS: &str = "
ALTER TABLE managers ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
";

/// Layout 3: a version per namespace, bumped by every commit that writes to
/// it (what a call's commit validates against, see `store::staged`), and the
/// SHA-256 of every compiled component this home wrote to its compile cache
/// (what proves a cache file is ours, see `sandbox::cache`).
const VERSIONS_AND_COMPILED: &str = "
CREATE TABLE IF NOT EXISTS namespace_versions (
    namespace INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS compiled (
    entry TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
";

/// Layout 4: the store's own metadata. A store that already holds data is
/// marked `unsealed`, so the first open with a master key seals its values
/// in place (`store::sealed`).
const SEALING: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
INSERT INTO meta (key, value) SELECT 'unsealed', x'01'
WHERE EXISTS (SELECT 1 FROM kv) OR EXISTS (SELECT 1 FROM managers WHERE config <> '{}');
";

/// Layout 5: each namespace's usage (keys; key plus value bytes), kept by
/// triggers on `kv` in the transaction that writes, so a quota check reads
/// one row instead of summing the namespace: a write costs the same at 100
/// secrets as at 100,000. Existing namespaces are counted once here.
const NAMESPACE_USAGE: &str = "
CREATE TABLE IF NOT EXISTS namespace_usage (
    namespace INTEGER PRIMARY KEY,
    keys INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT INTO namespace_usage (namespace, keys, bytes)
SELECT namespace, count(*), sum(length(CAST(key AS BLOB)) + length(value))
FROM kv GROUP BY namespace;
CREATE TRIGGER IF NOT EXISTS kv_usage_insert AFTER INSERT ON kv BEGIN
    INSERT OR IGNORE INTO namespace_usage (namespace, keys, bytes) VALUES (NEW.namespace, 0, 0);
    UPDATE namespace_usage
    SET keys = keys + 1, bytes = bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value)
    WHERE namespace = NEW.namespace;
END;
CREATE TRIGGER IF NOT EXISTS kv_usage_update AFTER UPDATE OF value ON kv BEGIN
    UPDATE namespace_usage
    SET bytes = bytes - length(OLD.value) + length(NEW.value)
    WHERE namespace = NEW.namespace;
END;
CREATE TRIGGER IF NOT EXISTS kv_usage_delete AFTER DELETE ON kv BEGIN
    UPDATE namespace_usage
    SET keys = keys - 1, bytes = bytes - length(CAST(OLD.key AS BLOB)) - length(OLD.value)
    WHERE namespace = OLD.namespace;
END;
";

/// Layout 6: API tokens (by the SHA-256 of their text) and the audit log of
/// `flavorbox serve` (see `store::access`).
const TOKENS_AND_AUDIT: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    manager TEXT NOT NULL,
    role TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    peer TEXT NOT NULL,
    token TEXT,
    manager TEXT,
    operation TEXT NOT NULL,
    secret TEXT,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL
);
";

/// How long a host-record statement waits for another process's write lock.
/// Calls never wait this long: their namespace transactions wait no longer
/// than the call's deadline (`NamespaceTxn::set_deadline`).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

struct Pool {
    path: PathBuf,
    read_only: bool,
    idle: Mutex<Vec<Connection>>,
}

/// A connection borrowed from the pool; returned when dropped.
pub(super) struct PooledConnection {
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

/// The embedded store: one SQLite file.
#[derive(Clone)]
pub struct SqliteDatabase {
    pool: Arc<Pool>,
}

fn corrupt(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::host(format!(
        "store {} is unreadable or not a flavorbox store ({err})",
        path.display()
    ))
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let conn = if read_only {
        // `immutable` lets SQLite read a WAL store whose directory does not
        // let it create the shared-memory file; nobody can write it anyway.
        let uri = format!("file:{}?mode=ro", uri_path(path));
        Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.query_row("PRAGMA user_version", [], |_| Ok(()))
                .map(|()| c)
        })
        .or_else(|_| {
            Connection::open_with_flags(
                format!("file:{}?immutable=1", uri_path(path)),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        })
        .map_err(|e| corrupt(path, e))?
    } else {
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| corrupt(path, e))?
    };
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| corrupt(path, e))?;
    if !read_only {
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(|e| corrupt(path, e))?;
    }
    Ok(conn)
}

/// `path` for an SQLite URI: `%`, `?` and `#` escaped.
fn uri_path(path: &Path) -> String {
    path.to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

/// Refuses a store file that is empty or shorter than its header says:
/// SQLite would silently treat the first as a new database and fail late,
/// mid-command, on the second.
fn check_file(path: &Path) -> Result<()> {
    use std::io::Read;
    let damaged = |why: &str| {
        Error::host(format!(
            "store {} is {why}; it was truncated or damaged. Restore it from a backup, \
             or move it away to start an empty home",
            path.display()
        ))
    };
    let meta = std::fs::metadata(path).map_err(|e| corrupt(path, e))?;
    if meta.is_dir() {
        return Err(corrupt(path, "it is a directory"));
    }
    if meta.len() == 0 {
        return Err(damaged("empty (0 bytes)"));
    }
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path).map_err(|e| corrupt(path, e))?;
    if file.read_exact(&mut header).is_err() || !header.starts_with(b"SQLite format 3\0") {
        return Err(corrupt(path, "file is not a database"));
    }
    // The page count in the header is valid when the change counter (24)
    // equals the version-valid-for number (92).
    let be32 = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    if be32(24) == be32(92) && pages > 0 && meta.len() < pages * page_size {
        return Err(damaged(&format!(
            "{} bytes long but its header says {}",
            meta.len(),
            pages * page_size
        )));
    }
    Ok(())
}

/// Makes the store file and its WAL and shared-memory files private to
/// their owner (stores from older versions may be group-readable).
fn tighten_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Builds a new store in a private temporary file and links it into place
/// without replacing anything: the store file exists only complete, and a
/// concurrent creator's store is kept, not overwritten.
fn create_store(path: &Path) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.new-{}", path.display(), std::process::id()));
    let built = (|| -> Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&tmp)
            .map_err(|e| Error::host(format!("cannot create store {}: {e}", path.display())))?;
        let conn = open_connection(&tmp, false)?;
        migrate(&conn).map_err(|e| corrupt(path, e))?;
        // Closing the last connection checkpoints and removes the WAL.
        conn.close().map_err(|(_, e)| corrupt(path, e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::host(format!(
                "cannot create store {}: {e}",
                path.display()
            ))),
        }
    })();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    built
}

/// Whether this process may write the store file and create files next to
/// it (SQLite's WAL and shared-memory files), asked of the kernel with the
/// effective ids, so a read-only file, directory or mount is seen without
/// opening or creating anything.
fn writable(path: &Path) -> bool {
    use rustix::fs::{Access, AtFlags, CWD, accessat};
    let may_write = |p: &Path, access: Access| accessat(CWD, p, access, AtFlags::EACCESS).is_ok();
    may_write(path, Access::WRITE_OK)
        && path.parent().is_none_or(|dir| {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            may_write(dir, Access::WRITE_OK | Access::EXEC_OK)
        })
}

impl SqliteDatabase {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteDatabase> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_store(path)?,
            Err(e) => return Err(corrupt(path, e)),
            Ok(_) => {}
        }
        check_file(path)?;
        let read_only = !writable(path);
        if !read_only {
            tighten_permissions(path);
        }
        let conn = open_connection(path, read_only)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        if version > LAYOUT_VERSION {
            return Err(Error::host(format!(
                "store {} was written by a newer flavorbox (layout {version}, this one knows {LAYOUT_VERSION})",
                path.display()
            )));
        }
        if version == 0 {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| corrupt(path, e))?;
            if tables > 0 {
                return Err(corrupt(path, "an SQLite database of another program"));
            }
        }
        if version < LAYOUT_VERSION {
            if read_only {
                return Err(Error::host(format!(
                    "store {} needs an upgrade to layout {LAYOUT_VERSION}, but it is not writable",
                    path.display()
                )));
            }
            migrate(&conn).map_err(|e| corrupt(path, e))?;
        }
        Ok(SqliteDatabase {
            pool: Arc::new(Pool {
                path: path.to_path_buf(),
                read_only,
                idle: Mutex::new(vec![conn]),
            }),
        })
    }

    /// Whether the store was opened read-only (its home is not writable).
    pub fn read_only(&self) -> bool {
        self.pool.read_only
    }

    pub fn path(&self) -> &Path {
        &self.pool.path
    }

    pub(super) fn conn(&self) -> Result<PooledConnection> {
        let idle = self.pool.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.pool.path, self.pool.read_only)?,
        };
        Ok(PooledConnection {
            conn: Some(conn),
            pool: self.pool.clone(),
        })
    }

    /// Runs `f` inside one write transaction.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let conn = conn.conn.as_mut().expect("connection present until drop");
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

/// Brings the layout up to date, one step per transaction. Another process
/// may be migrating the same file: each step re-reads the version after
/// taking the write lock.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let Some(step) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            conn.execute_batch("COMMIT")?;
            return Ok(());
        };
        let applied =
            conn.execute_batch(&format!("{step}\nPRAGMA user_version = {};", version + 1));
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(err) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(err);
            }
        }
    }
}

/// SQLite's failures as the host's: a store that cannot be written or is
/// damaged gets a line saying so; any other names the statement's failure.
impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::ReadOnly) => Error::host(
                "the store is not writable (a read-only home); this command needs to write",
            ),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::host(
                "the store is damaged (its file is malformed); restore it from a backup",
            ),
            _ => Error::host(format!("store: {err}")),
        }
    }
}

pub(super) fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(Error::host)
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::host(format!("store holds an unreadable record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_store_gets_the_whole_layout_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        SqliteDatabase::open(&path).unwrap();
        SqliteDatabase::open(&path).unwrap();
        assert_eq!(layout_version(&path), LAYOUT_VERSION);
        let managers: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM managers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(managers, 1, "the default manager is created once");
    }

    #[test]
    fn a_layout_1_store_is_brought_up_to_date_keeping_its_managers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(FIRST_LAYOUT).unwrap();
            conn.execute_batch(
                "INSERT INTO managers (name, flavor, config) VALUES ('old', 'local', '{\"k\":\"v\"}');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let db = SqliteDatabase::open(&path).unwrap();
        assert_eq!(layout_version(&path), LAYOUT_VERSION);
        use crate::store::Database;
        let old = db.manager("old").unwrap().unwrap();
        assert_eq!(old.config.get("k").map(String::as_str), Some("v"));
        assert!(old.limits.is_empty());
    }

    #[test]
    fn a_store_from_a_newer_flavorbox_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        SqliteDatabase::open(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("PRAGMA user_version = {}", LAYOUT_VERSION + 1))
            .unwrap();
        let err = SqliteDatabase::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer flavorbox"), "{err}");
        assert_eq!(layout_version(&path), LAYOUT_VERSION + 1);
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
        let err = SqliteDatabase::open(&path).err().unwrap().to_string();
        assert!(err.contains("not a flavorbox store"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
