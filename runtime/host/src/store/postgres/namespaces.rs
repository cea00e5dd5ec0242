//! One secrets manager's storage namespace inside one PostgreSQL
//! transaction: the statements behind [`NamespaceRows`]. Every statement is
//! scoped by the namespace id, so no key reaches another manager's data;
//! the transaction begins at first use and is rolled back unless committed.
//!
//! Guards against lost updates across nodes and against a call waiting on
//! another writer past its deadline: a `Read` transaction is one
//! `REPEATABLE READ READ ONLY` snapshot whose version comes with its first
//! round trip; a `Write` transaction locks the namespace's version row
//! (`SELECT ... FOR UPDATE`) first, so two nodes' writers of one namespace
//! serialize and writers of other namespaces do not wait; both set
//! `lock_timeout` and `statement_timeout` to what is left of the deadline,
//! and a wait that runs out is a `conflict`, nothing written.

use std::time::Instant;

use super::{Conn, PgClient, lock_error, wait};
use crate::error::{Error, Result};
use crate::store::backend::NamespaceRows;
use crate::store::{TxnMode, Usage};

/// One namespace inside one PostgreSQL transaction.
pub struct PostgresNamespace {
    conn: Conn,
    namespace: i64,
    mode: TxnMode,
    open: bool,
    deadline: Option<Instant>,
    /// The version read at begin: a `Write` transaction's under its row
    /// lock, a `Read` transaction's in its snapshot.
    version: u64,
}

impl PostgresNamespace {
    pub(super) fn new(conn: Conn, namespace: i64, mode: TxnMode) -> Self {
        PostgresNamespace {
            conn,
            namespace,
            mode,
            open: false,
            deadline: None,
            version: 0,
        }
    }

    /// `SET LOCAL`s bounding every wait of this transaction by its deadline.
    fn bounds(&self) -> String {
        match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Zero would mean "no limit" to PostgreSQL.
                let ms = left.as_millis().max(1);
                format!("SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {ms};")
            }
            None => String::new(),
        }
    }

    /// The connection inside the transaction, begun (and the version read)
    /// if it was not.
    fn begin(&mut self) -> Result<&mut PgClient> {
        if !self.open {
            // Out of the pool until the transaction ends cleanly.
            self.conn.clean = false;
            self.version = match self.mode {
                TxnMode::Read => self.begin_snapshot()?,
                TxnMode::Write => self.begin_locked()?,
            };
            self.open = true;
        }
        Ok(&mut self.conn)
    }

    /// Begins the snapshot; its version comes with the first round trip (a
    /// call reads it first thing).
    fn begin_snapshot(&mut self) -> Result<u64> {
        let sql = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {}
             SELECT version FROM namespace_versions WHERE namespace = {}",
            self.bounds(),
            self.namespace
        );
        let client: &PgClient = &self.conn;
        let messages = wait(client.client.simple_query(&sql)).map_err(lock_error)?;
        let version = messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        });
        match version {
            Some(text) => text.parse::<u64>().map_err(|_| {
                Error::host(format!(
                    "store: a namespace version is not a number: {text}"
                ))
            }),
            None => Ok(0),
        }
    }

    /// Begins the write transaction holding the namespace's version row.
    fn begin_locked(&mut self) -> Result<u64> {
        let ns = self.namespace;
        let sql = format!("BEGIN; {}", self.bounds());
        self.conn.batch(&sql).map_err(lock_error)?;
        // Rolled back when dropped from here on, even if the lock fails.
        self.open = true;
        let create = self.conn.statement(
            "INSERT INTO namespace_versions (namespace, version)
             VALUES ($1, 0) ON CONFLICT (namespace) DO NOTHING",
        )?;
        let lock = self
            .conn
            .statement("SELECT version FROM namespace_versions WHERE namespace = $1 FOR UPDATE")?;
        let client: &PgClient = &self.conn;
        wait(client.client.execute(&create, &[&ns])).map_err(lock_error)?;
        let row = wait(client.client.query_one(&lock, &[&ns])).map_err(lock_error)?;
        Ok(row.get::<_, i64>(0) as u64)
    }
}

impl NamespaceRows for PostgresNamespace {
    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    fn version(&mut self) -> Result<u64> {
        self.begin()?;
        Ok(self.version)
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let ns = self.namespace;
        let row = self.begin()?.row(
            "SELECT value FROM kv WHERE namespace = $1 AND key = $2",
            &[&ns, &key],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn value_len(&mut self, key: &str) -> Result<Option<u64>> {
        let ns = self.namespace;
        let row = self.begin()?.row(
            "SELECT octet_length(value) FROM kv WHERE namespace = $1 AND key = $2",
            &[&ns, &key],
        )?;
        Ok(row.map(|r| r.get::<_, i32>(0) as u64))
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let ns = self.namespace;
        self.begin()?.execute(
            "INSERT INTO kv (namespace, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            &[&ns, &key, &value],
        )?;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let ns = self.namespace;
        let deleted = self.begin()?.execute(
            "DELETE FROM kv WHERE namespace = $1 AND key = $2",
            &[&ns, &key],
        )?;
        Ok(deleted > 0)
    }

    fn keys_in(&mut self, from: &str, to: &str) -> Result<Vec<String>> {
        let ns = self.namespace;
        let rows = self.begin()?.query(
            "SELECT key FROM kv WHERE namespace = $1 AND key >= $2 AND key < $3 ORDER BY key",
            &[&ns, &from, &to],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn usage(&mut self) -> Result<Usage> {
        let ns = self.namespace;
        // Kept by a trigger on `kv` (layout step 5).
        let row = self.begin()?.row(
            "SELECT keys, bytes FROM namespace_usage WHERE namespace = $1",
            &[&ns],
        )?;
        let (keys, bytes): (i64, i64) = row.map_or((0, 0), |r| (r.get(0), r.get(1)));
        Ok(Usage {
            keys: keys as u64,
            bytes: bytes as u64,
        })
    }

    fn bump_version(&mut self) -> Result<()> {
        let ns = self.namespace;
        self.begin()?.execute(
            "UPDATE namespace_versions SET version = version + 1 WHERE namespace = $1",
            &[&ns],
        )?;
        Ok(())
    }

    fn write_page(&mut self, page: u16) -> Result<Option<Vec<u8>>> {
        let ns = self.namespace;
        let page = i32::from(page);
        let row = self.begin()?.row(
            "SELECT data FROM namespace_writes WHERE namespace = $1 AND page = $2",
            &[&ns, &page],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn put_write_page(&mut self, page: u16, data: &[u8]) -> Result<()> {
        let ns = self.namespace;
        let page = i32::from(page);
        self.begin()?.execute(
            "INSERT INTO namespace_writes (namespace, page, data) VALUES ($1, $2, $3)
             ON CONFLICT (namespace, page) DO UPDATE SET data = excluded.data",
            &[&ns, &page, &data],
        )?;
        Ok(())
    }

    fn commit(mut self) -> Result<()> {
        if self.open {
            self.conn.batch("COMMIT").map_err(lock_error)?;
            self.open = false;
            self.conn.clean = true;
        }
        Ok(())
    }
}

impl Drop for PostgresNamespace {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback leaves the connection out of the pool
            // (`clean` stays false); PostgreSQL rolls back when it closes.
            self.conn.clean = self.conn.batch("ROLLBACK").is_ok();
        }
    }
}
