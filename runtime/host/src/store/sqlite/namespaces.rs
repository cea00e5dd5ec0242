//! One secrets manager's storage namespace inside one SQLite transaction:
//! the statements behind [`NamespaceRows`]. Every statement is scoped by
//! the namespace id, so no key reaches another manager's data; the
//! transaction begins lazily (`BEGIN DEFERRED` for a `Read` snapshot,
//! `BEGIN IMMEDIATE`, the store's one write lock, for a `Write`) and is
//! rolled back unless committed.
//!
//! Guards against a call waiting on another writer past its deadline: SQLite's
//! busy timeout is set to what is left of the deadline before each statement
//! (and restored to the host default when the connection goes back to the
//! pool), and a wait that runs out is a `conflict`, nothing written.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::{BUSY_TIMEOUT, Session};
use crate::error::{Error, Result};
use crate::store::backend::NamespaceRows;
use crate::store::rules::locked_past_deadline;
use crate::store::{TxnMode, Usage};

/// One namespace inside one SQLite transaction.
pub struct SqliteNamespace {
    session: Session,
    namespace: i64,
    mode: TxnMode,
    deadline: Option<Instant>,
}

/// What SQLite reports when a wait for a lock ran out.
fn busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A lock wait that ran out is named as such.
fn lock_error(err: rusqlite::Error) -> Error {
    if busy(&err) {
        locked_past_deadline()
    } else {
        err.into()
    }
}

impl SqliteNamespace {
    pub(super) fn new(session: Session, namespace: i64, mode: TxnMode) -> Self {
        SqliteNamespace {
            session,
            namespace,
            mode,
            deadline: None,
        }
    }

    /// Bounds the next statement's wait for a lock by the deadline.
    fn bound_wait(&self) -> Result<()> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            // A zero timeout would make SQLite fail at once even when the
            // lock is free a microsecond later; 1 ms is the least wait.
            self.session
                .busy_timeout(left.max(Duration::from_millis(1)))?;
        }
        Ok(())
    }

    /// The connection inside the transaction, begun if it was not.
    fn begin(&mut self) -> Result<&Connection> {
        self.bound_wait()?;
        let begin = match self.mode {
            TxnMode::Read => "BEGIN DEFERRED",
            TxnMode::Write => "BEGIN IMMEDIATE",
        };
        self.session.begin(begin).map_err(lock_error)?;
        Ok(&self.session)
    }
}

impl NamespaceRows for SqliteNamespace {
    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    fn version(&mut self) -> Result<u64> {
        let ns = self.namespace;
        let version: Option<i64> = self
            .begin()?
            .prepare_cached("SELECT version FROM namespace_versions WHERE namespace = ?1")?
            .query_row([ns], |r| r.get(0))
            .optional()?;
        Ok(version.unwrap_or(0) as u64)
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

    fn put(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let ns = self.namespace;
        self.begin()?
            .prepare_cached(
                "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![ns, key, value])
            .map_err(lock_error)?;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let ns = self.namespace;
        let deleted = self
            .begin()?
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")?
            .execute(params![ns, key])
            .map_err(lock_error)?;
        Ok(deleted > 0)
    }

    fn keys_in(&mut self, from: &str, to: &str) -> Result<Vec<String>> {
        let ns = self.namespace;
        let conn = self.begin()?;
        let mut statement = conn.prepare_cached(
            "SELECT key FROM kv WHERE namespace = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
        )?;
        let keys = statement
            .query_map(params![ns, from, to], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    fn usage(&mut self) -> Result<Usage> {
        let ns = self.namespace;
        // Kept by triggers on `kv` (layout step 5).
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

    fn bump_version(&mut self) -> Result<()> {
        let ns = self.namespace;
        self.begin()?
            .prepare_cached(
                "INSERT INTO namespace_versions (namespace, version) VALUES (?1, 1)
                 ON CONFLICT (namespace) DO UPDATE SET version = version + 1",
            )?
            .execute([ns])?;
        Ok(())
    }

    fn write_page(&mut self, page: u16) -> Result<Option<Vec<u8>>> {
        let ns = self.namespace;
        Ok(self
            .begin()?
            .prepare_cached("SELECT data FROM namespace_writes WHERE namespace = ?1 AND page = ?2")?
            .query_row(params![ns, page], |r| r.get(0))
            .optional()?)
    }

    fn put_write_page(&mut self, page: u16, data: &[u8]) -> Result<()> {
        let ns = self.namespace;
        self.begin()?
            .prepare_cached(
                "INSERT INTO namespace_writes (namespace, page, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace, page) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![ns, page, data])
            .map_err(lock_error)?;
        Ok(())
    }

    fn commit(mut self) -> Result<()> {
        self.bound_wait()?;
        self.session.commit().map_err(lock_error)
    }
}

impl Drop for SqliteNamespace {
    fn drop(&mut self) {
        // The transaction, if open, is rolled back by the session after
        // this; the busy timeout must be the host's again before the
        // connection is pooled.
        if self.deadline.is_some() {
            let _ = self.session.busy_timeout(BUSY_TIMEOUT);
        }
    }
}
