//! Tokens, the audit log and named locks on SQLite: the statements behind
//! [`AccessRows`], and the locks of [`crate::store::backend::Backend::lock`].
//!
//! Guards against an audit batch costing one sync per entry (its inserts
//! share the one write transaction that links them) and against a lock that outlives its holder: an
//! embedded store is used by this process alone for merges, so a named lock
//! is held in process memory, by store file and name, and released when its
//! guard is dropped, even by a panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Row, params};

use super::SqliteRows;
use crate::error::{Error, Result};
use crate::store::access::{AuditChain, AuditEntry, AuditFilter, AuditLink, Role, TokenRecord};
use crate::store::backend::{AccessRows, AuditRecord};

/// Names held on embedded stores, by store file and name.
static HELD: Mutex<BTreeSet<(PathBuf, String)>> = Mutex::new(BTreeSet::new());
static RELEASED: Condvar = Condvar::new();

/// A named lock on an embedded store; released when dropped.
pub struct SqliteLock((PathBuf, String));

impl SqliteLock {
    /// Takes the lock `key` of the store at `path`, waiting no longer than
    /// `wait`; `None` when the wait ran out.
    pub(super) fn take(path: &Path, key: &str, wait: Duration) -> Option<SqliteLock> {
        let name = (path.to_path_buf(), key.to_string());
        let deadline = Instant::now() + wait;
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(&name) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            held = RELEASED
                .wait_timeout(held, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        held.insert(name.clone());
        Some(SqliteLock(name))
    }
}

impl Drop for SqliteLock {
    fn drop(&mut self) {
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
        RELEASED.notify_all();
    }
}

/// A token row; its role, stored as text, read as a [`Role`].
fn token_row(row: &Row<'_>) -> rusqlite::Result<Result<TokenRecord>> {
    let role = match Role::parse(&row.get::<_, String>(2)?) {
        Ok(role) => role,
        Err(err) => return Ok(Err(err)),
    };
    Ok(Ok(TokenRecord {
        id: row.get(0)?,
        manager: row.get(1)?,
        role,
        created_ms: row.get(3)?,
        expires_ms: row.get(4)?,
        revoked_ms: row.get(5)?,
        manager_id: row.get(6)?,
        name: row.get(7)?,
        last_used_ms: row.get(8)?,
    }))
}

impl AccessRows for SqliteRows {
    fn insert_token(&mut self, record: &TokenRecord, sha256: &str) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO tokens (id, sha256, manager, role, created_ms, expires_ms, manager_id,
                                     name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                record.id,
                sha256,
                record.manager,
                record.role.as_str(),
                record.created_ms,
                record.expires_ms,
                record.manager_id,
                record.name
            ])?;
        Ok(())
    }

    fn token(&mut self, id: &str) -> Result<Option<TokenRecord>> {
        self.one(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id, name,
                    last_used_ms FROM tokens
             WHERE id = ?1",
            [id],
            token_row,
        )?
        .transpose()
    }

    fn token_by_hash(&mut self, sha256: &str) -> Result<Option<TokenRecord>> {
        self.one(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id, name,
                    last_used_ms FROM tokens
             WHERE sha256 = ?1",
            [sha256],
            token_row,
        )?
        .transpose()
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        self.all(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id, name,
                    last_used_ms FROM tokens
             ORDER BY created_ms, id",
            [],
            token_row,
        )?
        .into_iter()
        .collect()
    }

    fn set_token_revoked(&mut self, id: &str, at_ms: i64) -> Result<()> {
        self.change(
            "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1",
            params![id, at_ms],
        )?;
        Ok(())
    }

    fn set_token_used(&mut self, id: &str, at_ms: i64) -> Result<()> {
        self.change(
            "UPDATE tokens SET last_used_ms = ?2
             WHERE id = ?1 AND (last_used_ms IS NULL OR last_used_ms < ?2)",
            params![id, at_ms],
        )?;
        Ok(())
    }

    fn revoke_tokens_of(&mut self, manager_id: i64, at_ms: i64) -> Result<()> {
        self.change(
            "UPDATE tokens SET revoked_ms = ?2 WHERE manager_id = ?1 AND revoked_ms IS NULL",
            params![manager_id, at_ms],
        )?;
        Ok(())
    }

    fn insert_audit(&mut self, records: &[AuditRecord]) -> Result<()> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO audit (seq, at_ms, last_ms, count, peer, token, manager, operation,
                                secret, outcome, status, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for record in records {
            let entry = &record.entry;
            insert.execute(params![
                record.seq,
                entry.at_ms,
                entry.last_ms,
                i64::try_from(entry.count).unwrap_or(i64::MAX),
                entry.peer,
                entry.token,
                entry.manager,
                entry.operation,
                entry.secret,
                entry.outcome,
                entry.status,
                record.hash
            ])?;
        }
        Ok(())
    }

    fn audit(&mut self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>> {
        let latest = self.all(
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM
                 (SELECT * FROM audit
                  WHERE (?2 IS NULL OR manager = ?2) AND (?3 IS NULL OR token = ?3)
                    AND (?4 IS NULL OR outcome = ?4)
                    AND (?5 IS NULL OR at_ms >= ?5) AND (?6 IS NULL OR at_ms <= ?6)
                  ORDER BY seq DESC LIMIT ?1) ORDER BY seq"
            ),
            params![
                limit,
                filter.manager,
                filter.token,
                filter.outcome,
                filter.since_ms,
                filter.until_ms
            ],
            audit_row,
        )?;
        Ok(latest.into_iter().map(|r| r.entry).collect())
    }

    fn audit_after(&mut self, seq: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        self.all(
            &format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
            params![seq, limit],
            audit_row,
        )
    }

    fn audit_chain(&mut self) -> Result<AuditChain> {
        let chain = self.one(
            "SELECT pruned_through, pruned_hash, head_seq, head_hash FROM audit_chain",
            [],
            |r| {
                Ok(AuditChain {
                    pruned: AuditLink {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                    },
                    head: AuditLink {
                        seq: r.get(2)?,
                        hash: r.get(3)?,
                    },
                })
            },
        )?;
        chain.ok_or_else(|| Error::host("the store's audit chain record is missing"))
    }

    fn set_audit_head(&mut self, head: &AuditLink) -> Result<()> {
        self.change(
            "UPDATE audit_chain SET head_seq = ?1, head_hash = ?2",
            params![head.seq, head.hash],
        )?;
        Ok(())
    }

    fn set_audit_pruned(&mut self, pruned: &AuditLink) -> Result<()> {
        self.change(
            "UPDATE audit_chain SET pruned_through = ?1, pruned_hash = ?2",
            params![pruned.seq, pruned.hash],
        )?;
        Ok(())
    }

    fn audit_newest_before(&mut self, at_ms: i64) -> Result<Option<i64>> {
        Ok(self
            .one(
                "SELECT max(seq) FROM audit WHERE at_ms < ?1",
                [at_ms],
                |r| r.get(0),
            )?
            .flatten())
    }

    fn audit_link_through(&mut self, after: i64, through: i64) -> Result<Option<AuditLink>> {
        self.one(
            "SELECT seq, hash FROM audit WHERE seq > ?1 AND seq <= ?2 AND hash IS NOT NULL
             ORDER BY seq DESC LIMIT 1",
            params![after, through],
            |r| {
                Ok(AuditLink {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )
    }

    fn delete_audit_through(&mut self, through: i64) -> Result<u64> {
        Ok(self.change("DELETE FROM audit WHERE seq <= ?1", [through])? as u64)
    }
}

/// The columns [`audit_row`] reads.
const AUDIT_COLUMNS: &str =
    "seq, hash, at_ms, last_ms, count, peer, token, manager, operation, secret, outcome, status";

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get(0)?,
        hash: r.get(1)?,
        entry: AuditEntry {
            at_ms: r.get(2)?,
            last_ms: r.get(3)?,
            count: r.get::<_, i64>(4)?.max(0) as u64,
            peer: r.get(5)?,
            token: r.get(6)?,
            manager: r.get(7)?,
            operation: r.get(8)?,
            secret: r.get(9)?,
            outcome: r.get(10)?,
            status: r.get(11)?,
        },
    })
}
