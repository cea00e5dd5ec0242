//! The store on SQLite (WAL, `synchronous = FULL`): ACID across processes, so
//! several `flavorbox` commands and pipelines can share one home. This part
//! opens it (creating it, or bringing its layout up to date: `migrations`)
//! and lends out connections; `records`, `namespaces` and `access` run the
//! statements of the [`Backend`] interface. No rule is checked here.
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

mod access;
mod migrations;
mod namespaces;
mod records;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use super::backend::Backend;
use super::layout::LAYOUT_VERSION;
use super::{Store, TxnMode};
use crate::error::{Error, Result};

/// How long a host-record statement waits for another process's write lock.
/// Calls never wait this long: their namespace transactions wait no longer
/// than the call's deadline (`NamespaceTxn::set_deadline`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

struct Pool {
    path: PathBuf,
    read_only: bool,
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

/// The embedded backend: one SQLite file (see [`super::SqliteDatabase`]).
#[derive(Clone)]
pub struct SqliteBackend {
    pool: Arc<Pool>,
}

/// Statements each connection keeps prepared: every statement of this
/// backend, so the namespace statements of a call are never re-parsed.
const CACHED_STATEMENTS: usize = 64;

/// A pooled connection and whether it is inside a transaction this code
/// began; rolled back when dropped inside one (a failed rollback leaves the
/// connection mid-transaction; the pool then discards it, as it only keeps
/// autocommit connections, and SQLite rolls back when it closes).
struct Session {
    conn: PooledConnection,
    in_transaction: bool,
}

impl std::ops::Deref for Session {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Session {
    /// Begins a transaction (`BEGIN DEFERRED` or `BEGIN IMMEDIATE`) unless
    /// one is open.
    fn begin(&mut self, begin: &'static str) -> rusqlite::Result<()> {
        if !self.in_transaction {
            self.conn.prepare_cached(begin)?.execute([])?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Commits the open transaction, if any.
    fn commit(&mut self) -> rusqlite::Result<()> {
        if self.in_transaction {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
            self.in_transaction = false;
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Every read transaction ends here: the statement is kept prepared
        // (parsing it anew cost a fifth of ending one).
        if self.in_transaction {
            let _ = self
                .conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut rollback| rollback.execute([]));
        }
    }
}

/// The host records on one [`Session`] (see `records` and `access`).
pub struct SqliteRows(Session);

impl SqliteRows {
    /// The rows `sql` selects with `params`, read by `read`.
    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut statement = self.0.prepare_cached(sql)?;
        let rows = statement.query_map(params, read)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The first row `sql` selects with `params`, read by `read`.
    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        Ok(self
            .0
            .prepare_cached(sql)?
            .query_row(params, read)
            .optional()?)
    }

    /// How many rows `sql` changed with `params`.
    fn change(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        Ok(self.0.prepare_cached(sql)?.execute(params)?)
    }
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
    conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    if !read_only {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA journal_size_limit = 8388608;",
        )
        .map_err(|e| corrupt(path, e))?;
        keep_wal(&conn);
    }
    Ok(conn)
}

/// Keeps the write-ahead log and its shared-memory index beside the store
/// when the last connection closes (SQLite's persistent WAL mode), so a
/// command does not create both files and delete them again: each CLI
/// process is a whole open and close of the store. What they hold is
/// checkpointed into the store on close as before, and the log is cut
/// back to 8 MiB (`PRAGMA journal_size_limit`) once checkpointed, so a large
/// import does not leave a large file behind; both are created with the
/// store's permissions. Best effort: without it, the files are only made
/// anew.
fn keep_wal(conn: &Connection) {
    let mut persist: std::os::raw::c_int = 1;
    // SAFETY: `conn.handle()` is an open connection for the duration of
    // the call, "main" is a NUL-terminated database name, and
    // SQLITE_FCNTL_PERSIST_WAL reads and writes exactly one `int` through
    // the pointer, which lives until the call returns.
    unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&raw mut persist).cast(),
        );
    }
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
        migrations::migrate(&conn).map_err(|e| corrupt(path, e))?;
        // Every page goes into the file before it is linked into place: the
        // WAL beside the temporary file is removed below, so a page left in
        // it (a checkpoint a full disk stopped, which closing would not
        // report) would be lost and a truncated store linked.
        let not_written = |why: &dyn std::fmt::Display| {
            Error::host(format!("cannot create store {}: {why}", path.display()))
        };
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(|e| not_written(&e))?;
        if busy != 0 {
            return Err(not_written(&"its layout could not be written out"));
        }
        conn.close().map_err(|(_, e)| not_written(&e))?;
        check_file(&tmp).map_err(|_| not_written(&"its layout could not be written out"))?;
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

impl SqliteBackend {
    /// Opens (creating if needed) the store at `path`.
    fn open(path: &Path) -> Result<SqliteBackend> {
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
        let version = migrations::layout_version(&conn).map_err(|e| corrupt(path, e))?;
        super::layout::pending(&path.display(), version)?;
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
            migrations::migrate(&conn).map_err(|e| corrupt(path, e))?;
        }
        Ok(SqliteBackend {
            pool: Arc::new(Pool {
                path: path.to_path_buf(),
                read_only,
                idle: Mutex::new(vec![conn]),
            }),
        })
    }

    fn session(&self) -> Result<Session> {
        let idle = self.pool.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.pool.path, self.pool.read_only)?,
        };
        Ok(Session {
            conn: PooledConnection {
                conn: Some(conn),
                pool: self.pool.clone(),
            },
            in_transaction: false,
        })
    }
}

impl Backend for SqliteBackend {
    type Rows = SqliteRows;
    type Namespace = namespaces::SqliteNamespace;
    type Held = access::SqliteLock;

    fn rows(&self) -> Result<SqliteRows> {
        Ok(SqliteRows(self.session()?))
    }

    /// SQLite has one writer: `BEGIN IMMEDIATE` takes the store's write
    /// lock, waiting for it up to `BUSY_TIMEOUT`.
    fn write(&self) -> Result<SqliteRows> {
        let mut session = self.session()?;
        session.begin("BEGIN IMMEDIATE")?;
        Ok(SqliteRows(session))
    }

    fn namespace(&self, id: i64, mode: TxnMode) -> Result<namespaces::SqliteNamespace> {
        Ok(namespaces::SqliteNamespace::new(self.session()?, id, mode))
    }

    fn lock(&self, key: &str, wait: Duration) -> Result<Option<access::SqliteLock>> {
        Ok(access::SqliteLock::take(&self.pool.path, key, wait))
    }
}

impl Store<SqliteBackend> {
    /// Opens (creating if needed) the store at `path`, unsealed.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Store::unsealed(SqliteBackend::open(path)?))
    }

    /// Whether the store was opened read-only (its home is not writable).
    pub fn read_only(&self) -> bool {
        self.backend.pool.read_only
    }

    pub fn path(&self) -> &Path {
        &self.backend.pool.path
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
