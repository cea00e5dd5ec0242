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
use crate::error::Result;
use crate::store::access::{AuditEntry, Role, TokenRecord};
use crate::store::backend::AccessRows;

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
    })
}

impl AccessRows for PostgresRows {
    fn insert_token(&mut self, record: &TokenRecord, sha256: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (id, sha256, manager, role, created_ms, expires_ms, manager_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &record.id,
                &sha256,
                &record.manager,
                &record.role.as_str(),
                &record.created_ms,
                &record.expires_ms,
                &record.manager_id,
            ],
        )?;
        Ok(())
    }

    fn token(&mut self, id: &str) -> Result<Option<TokenRecord>> {
        self.conn
            .row(
                "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id FROM tokens
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
                "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id FROM tokens
                 WHERE sha256 = $1",
                &[&sha256],
            )?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        let rows = self.conn.query(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms, manager_id FROM tokens
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

    fn revoke_tokens_of(&mut self, manager_id: i64, at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE tokens SET revoked_ms = $2 WHERE manager_id = $1 AND revoked_ms IS NULL",
            &[&manager_id, &at_ms],
        )?;
        Ok(())
    }

    /// One statement for the whole batch (arrays unnested), so a batch
    /// costs one round trip.
    fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<()> {
        let column = |f: fn(&AuditEntry) -> Option<String>| -> Vec<Option<String>> {
            entries.iter().map(f).collect()
        };
        let at: Vec<i64> = entries.iter().map(|e| e.at_ms).collect();
        let status: Vec<i32> = entries.iter().map(|e| i32::from(e.status)).collect();
        let peer = column(|e| Some(e.peer.clone()));
        let token = column(|e| e.token.clone());
        let manager = column(|e| e.manager.clone());
        let operation = column(|e| Some(e.operation.clone()));
        let secret = column(|e| e.secret.clone());
        let outcome = column(|e| Some(e.outcome.clone()));
        self.conn.execute(
            "INSERT INTO audit (at_ms, peer, token, manager, operation, secret, outcome, status)
             SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[],
                                  $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::INTEGER[])",
            &[
                &at, &peer, &token, &manager, &operation, &secret, &outcome, &status,
            ],
        )?;
        Ok(())
    }

    fn audit(&mut self, limit: u32) -> Result<Vec<AuditEntry>> {
        let limit = i64::from(limit);
        let rows = self.conn.query(
            "SELECT at_ms, peer, token, manager, operation, secret, outcome, status FROM
             (SELECT * FROM audit ORDER BY seq DESC LIMIT $1) AS latest ORDER BY seq",
            &[&limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                at_ms: r.get(0),
                peer: r.get(1),
                token: r.get(2),
                manager: r.get(3),
                operation: r.get(4),
                secret: r.get(5),
                outcome: r.get(6),
                status: r.get::<_, i32>(7) as u16,
            })
            .collect())
    }
}
