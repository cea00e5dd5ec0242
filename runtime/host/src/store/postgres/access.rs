//! Tokens, the audit log and named locks on PostgreSQL: the statements
//! behind [`AccessRows`], and the locks of
//! [`crate::store::backend::Backend::lock`].
//!
//! Guards against an audit batch costing a round trip per entry (the whole
//! batch is one statement, its columns passed as arrays) and against a lock
//! that outlives its holder: a named lock is a session-level advisory lock
//! on one connection, held across the calls its holder makes on other
//! connections, and released by PostgreSQL if the node dies holding it.

use std::time::Duration;

use tokio_postgres::Row;

use super::{Conn, PostgresRows, timed_out};
use crate::error::{Error, Result};
use crate::store::access::{AuditChain, AuditEntry, AuditFilter, AuditLink, Role, TokenRecord};
use crate::store::backend::{AccessRows, AuditRecord};

/// The columns `audit_row` reads, for statements that must be literals.
macro_rules! audit_columns {
    () => {
        "seq, hash, at_ms, last_ms, count, peer, token, manager, operation, secret, outcome, status"
    };
}

/// A named lock of a shared store; released when dropped.
pub struct PostgresLock {
    conn: Conn,
    id: i64,
}

impl PostgresLock {
    /// Takes the lock `key` on `conn`, waiting no longer than `wait`;
    /// `None` when the wait ran out.
    pub(super) fn take(mut conn: Conn, key: &str, wait: Duration) -> Result<Option<PostgresLock>> {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(format!("flavorbox-lock/{key}").as_bytes());
        let id = i64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
        let ms = wait.as_millis().max(1);
        // Out of the pool unless released cleanly (a failed wait leaves the
        // session's `lock_timeout` set).
        conn.clean = false;
        match conn.batch(&format!(
            "SET lock_timeout = {ms}; SELECT pg_advisory_lock({id}); SET lock_timeout = 0"
        )) {
            Ok(()) => Ok(Some(PostgresLock { conn, id })),
            Err(err) if timed_out(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

impl Drop for PostgresLock {
    fn drop(&mut self) {
        self.conn.clean = self
            .conn
            .batch(&format!("SELECT pg_advisory_unlock({})", self.id))
            .is_ok();
    }
}

fn token_from_row(row: &Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0),
        manager: row.get(1),
        role: Role::parse(row.get(2))?,
        created_ms: row.get(3),
        expires_ms: row.get(4),
        revoked_ms: row.get(5),
        manager_id: row.get(6),
        name: row.get(7),
        last_used_ms: row.get(8),
    })
}

impl AccessRows for PostgresRows {
    fn insert_token(&mut self, record: &TokenRecord, sha256: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (id, sha256, manager, role, created_ms, expires_ms, manager_id,
                                 name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &record.id,
                &sha256,
                &record.manager,
                &record.role.as_str(),
                &record.created_ms,
                &record.expires_ms,
                &record.manager_id,
                &record.name,
            ],
        )?;
        Ok(())
    }

    fn token(&mut self, id: &str) -> Result<Option<TokenRecord>> {
        self.conn
            .row(
                "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id, name,
                    last_used_ms FROM tokens
                 WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    fn token_by_hash(&mut self, sha256: &str) -> Result<Option<TokenRecord>> {
        self.conn
            .row(
                "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id, name,
                    last_used_ms FROM tokens
                 WHERE sha256 = $1",
                &[&sha256],
            )?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        let rows = self.conn.query(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id, name,
                    last_used_ms FROM tokens
             ORDER BY created_ms, id",
            &[],
        )?;
        rows.iter().map(token_from_row).collect()
    }

    fn set_token_revoked(&mut self, id: &str, at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE tokens SET revoked_ms = $2 WHERE id = $1",
            &[&id, &at_ms],
        )?;
        Ok(())
    }

    fn set_token_used(&mut self, id: &str, at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE tokens SET last_used_ms = $2
             WHERE id = $1 AND (last_used_ms IS NULL OR last_used_ms < $2)",
            &[&id, &at_ms],
        )?;
        Ok(())
    }

    fn revoke_tokens_of(&mut self, manager_id: i64, at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE tokens SET revoked_ms = $2 WHERE manager_id = $1 AND revoked_ms IS NULL",
            &[&manager_id, &at_ms],
        )?;
        Ok(())
    }

    /// One statement for the whole batch (arrays unnested), so a batch
    /// costs one round trip.
    fn insert_audit(&mut self, records: &[AuditRecord]) -> Result<()> {
        let column = |f: fn(&AuditRecord) -> Option<String>| -> Vec<Option<String>> {
            records.iter().map(f).collect()
        };
        let number = |f: fn(&AuditRecord) -> i64| -> Vec<i64> { records.iter().map(f).collect() };
        let seq = number(|r| r.seq);
        let at = number(|r| r.entry.at_ms);
        let last = number(|r| r.entry.last_ms);
        let count = number(|r| i64::try_from(r.entry.count).unwrap_or(i64::MAX));
        let status: Vec<i32> = records.iter().map(|r| i32::from(r.entry.status)).collect();
        let peer = column(|r| Some(r.entry.peer.clone()));
        let token = column(|r| r.entry.token.clone());
        let manager = column(|r| r.entry.manager.clone());
        let operation = column(|r| Some(r.entry.operation.clone()));
        let secret = column(|r| r.entry.secret.clone());
        let outcome = column(|r| Some(r.entry.outcome.clone()));
        let hash = column(|r| r.hash.clone());
        self.conn.execute(
            "INSERT INTO audit (seq, at_ms, last_ms, count, peer, token, manager, operation,
                                secret, outcome, status, hash)
             SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[],
                                  $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[],
                                  $10::TEXT[], $11::INTEGER[], $12::TEXT[])",
            &[
                &seq, &at, &last, &count, &peer, &token, &manager, &operation, &secret, &outcome,
                &status, &hash,
            ],
        )?;
        Ok(())
    }

    fn audit(&mut self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>> {
        let limit = i64::from(limit);
        let rows = self.conn.query(
            concat!(
                "SELECT ",
                audit_columns!(),
                " FROM (SELECT * FROM audit
                   WHERE ($2::TEXT IS NULL OR manager = $2) AND ($3::TEXT IS NULL OR token = $3)
                     AND ($4::TEXT IS NULL OR outcome = $4)
                     AND ($5::BIGINT IS NULL OR at_ms >= $5) AND ($6::BIGINT IS NULL OR at_ms <= $6)
                   ORDER BY seq DESC LIMIT $1) AS latest ORDER BY seq"
            ),
            &[
                &limit,
                &filter.manager,
                &filter.token,
                &filter.outcome,
                &filter.since_ms,
                &filter.until_ms,
            ],
        )?;
        Ok(rows.iter().map(|r| audit_row(r).entry).collect())
    }

    fn audit_after(&mut self, seq: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        let limit = i64::from(limit);
        let rows = self.conn.query(
            concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
            ),
            &[&seq, &limit],
        )?;
        Ok(rows.iter().map(audit_row).collect())
    }

    fn audit_chain(&mut self) -> Result<AuditChain> {
        let row = self.conn.row(
            "SELECT pruned_through, pruned_hash, head_seq, head_hash FROM audit_chain",
            &[],
        )?;
        let row = row.ok_or_else(|| Error::host("the store's audit chain record is missing"))?;
        Ok(AuditChain {
            pruned: AuditLink {
                seq: row.get(0),
                hash: row.get(1),
            },
            head: AuditLink {
                seq: row.get(2),
                hash: row.get(3),
            },
        })
    }

    fn set_audit_head(&mut self, head: &AuditLink) -> Result<()> {
        self.conn.execute(
            "UPDATE audit_chain SET head_seq = $1, head_hash = $2",
            &[&head.seq, &head.hash],
        )?;
        Ok(())
    }

    fn set_audit_pruned(&mut self, pruned: &AuditLink) -> Result<()> {
        self.conn.execute(
            "UPDATE audit_chain SET pruned_through = $1, pruned_hash = $2",
            &[&pruned.seq, &pruned.hash],
        )?;
        Ok(())
    }

    fn audit_newest_before(&mut self, at_ms: i64) -> Result<Option<i64>> {
        Ok(self
            .conn
            .row("SELECT max(seq) FROM audit WHERE at_ms < $1", &[&at_ms])?
            .and_then(|r| r.get(0)))
    }

    fn audit_link_through(&mut self, after: i64, through: i64) -> Result<Option<AuditLink>> {
        Ok(self
            .conn
            .row(
                "SELECT seq, hash FROM audit WHERE seq > $1 AND seq <= $2 AND hash IS NOT NULL
                 ORDER BY seq DESC LIMIT 1",
                &[&after, &through],
            )?
            .map(|r| AuditLink {
                seq: r.get(0),
                hash: r.get(1),
            }))
    }

    fn delete_audit_through(&mut self, through: i64) -> Result<u64> {
        self.conn
            .execute("DELETE FROM audit WHERE seq <= $1", &[&through])
    }
}

fn audit_row(r: &Row) -> AuditRecord {
    AuditRecord {
        seq: r.get(0),
        hash: r.get(1),
        entry: AuditEntry {
            at_ms: r.get(2),
            last_ms: r.get(3),
            count: r.get::<_, i64>(4).max(0) as u64,
            peer: r.get(5),
            token: r.get(6),
            manager: r.get(7),
            operation: r.get(8),
            secret: r.get(9),
            outcome: r.get(10),
            status: r.get::<_, i32>(11) as u16,
        },
    }
}
