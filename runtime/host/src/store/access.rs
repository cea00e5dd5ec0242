//! Who may use a shared store over `flavorbox serve`, and what they did: API
//! tokens and the audit log, persisted next to the records they concern.
//!
//! Guards against a leaked store dump handing out access: only the SHA-256
//! of a token is stored, never the token itself (tokens are 256 random bits,
//! so a fast hash is enough: there is nothing to guess). Guards against an
//! audit log that leaks what it audits: an entry names the operation and the
//! secret, never a value, and the store never receives a value to log.
//!
//! A served store also lends named locks ([`AccessStore::with_lock`]): an
//! update that merges into a secret reads it in one call and writes it in
//! another, and two such merges must not interleave, whichever node runs
//! them.
//!
//! This is its own trait, beside [`super::Database`], so a wrapper of the
//! secrets store (one that seals values at rest, say) need not know of it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};

use super::SqliteDatabase;
use crate::error::{Error, Result};

/// What a token may do on its secrets manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Get a secret and list the names.
    Read,
    /// Read, plus register, update and delete secrets.
    Write,
    /// Write, plus delete every secret, and list managers and flavors.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role> {
        match text {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => Err(Error::invalid(format!(
                "role `{}` is not one of read, write, admin",
                crate::text::clip(other, 32)
            ))),
        }
    }
}

/// A token as stored: everything but the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The public part of the token (it starts the token), shown in lists
    /// and the audit log.
    pub id: String,
    pub manager: String,
    pub role: Role,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl TokenRecord {
    /// Whether the token may be used at `now_ms`.
    pub fn valid_at(&self, now_ms: i64) -> bool {
        self.revoked_ms.is_none() && self.expires_ms.is_none_or(|t| now_ms < t)
    }
}

/// One request as the audit log keeps it. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The peer's address.
    pub peer: String,
    /// The token's id, when the request presented a known one.
    pub token: Option<String>,
    pub manager: Option<String>,
    /// `get-secret`, `list-managers`, `auth`, ...
    pub operation: String,
    pub secret: Option<String>,
    /// `ok` or the error kind (`unauthorized`, `forbidden`, `not-found`, ...).
    pub outcome: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// Tokens and the audit log of a store.
pub trait AccessStore: Send + Sync {
    /// Stores a new token by the SHA-256 (hex) of its text.
    fn insert_token(&self, record: &TokenRecord, sha256: &str) -> Result<()>;
    /// The token whose text hashes to `sha256`, revoked or expired or not.
    fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>>;
    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Marks the token revoked at `now_ms`; `NotFound` if there is no such
    /// token, and revoking twice keeps the first time.
    fn revoke_token(&self, id: &str, now_ms: i64) -> Result<()>;
    /// Appends `entries` in one transaction (one sync to disk for many
    /// requests).
    fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    /// The latest `limit` entries, oldest first.
    fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Runs `f` holding the lock named `key`, which every user of the
    /// store sees (every node of a shared store; every thread of this
    /// process for an embedded one); waits for it no longer than `wait`
    /// (`conflict` then, `f` not run).
    fn with_lock(&self, key: &str, wait: Duration, f: &mut dyn FnMut() -> Result<()>)
    -> Result<()>;
}

/// The error of a lock wait that ran out.
pub(super) fn lock_timeout() -> Error {
    Error::conflict(
        "another request held this secret past the deadline; nothing was written, try again"
            .to_string(),
    )
}

/// Names held by [`AccessStore::with_lock`] on embedded stores, by store
/// file and name.
static HELD: Mutex<BTreeSet<(PathBuf, String)>> = Mutex::new(BTreeSet::new());
static RELEASED: Condvar = Condvar::new();

/// The longest secret or manager name an audit entry keeps (a refused
/// request may name anything).
pub const AUDIT_NAME_CHARS: usize = 200;

impl AccessStore for SqliteDatabase {
    fn insert_token(&self, record: &TokenRecord, sha256: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (id, sha256, manager, role, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    record.id,
                    sha256,
                    record.manager,
                    record.role.as_str(),
                    record.created_ms,
                    record.expires_ms
                ],
            )?;
            Ok(())
        })
    }

    fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms FROM tokens
             WHERE sha256 = ?1",
        )?
        .query_row([sha256], sqlite_token)
        .optional()?
        .transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms FROM tokens
             ORDER BY created_ms, id",
        )?;
        let rows = stmt.query_map([], sqlite_token)?;
        rows.map(|r| r?).collect()
    }

    fn revoke_token(&self, id: &str, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            let found = tx.execute(
                "UPDATE tokens SET revoked_ms = coalesce(revoked_ms, ?2) WHERE id = ?1",
                params![id, now_ms],
            )?;
            if found == 0 {
                return Err(Error::not_found(format!("token `{id}` does not exist")));
            }
            Ok(())
        })
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO audit (at_ms, peer, token, manager, operation, secret, outcome, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for entry in entries {
                insert.execute(params![
                    entry.at_ms,
                    entry.peer,
                    entry.token,
                    entry.manager,
                    entry.operation,
                    entry.secret,
                    entry.outcome,
                    entry.status
                ])?;
            }
            Ok(())
        })
    }

    fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT at_ms, peer, token, manager, operation, secret, outcome, status FROM
             (SELECT * FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry {
                at_ms: r.get(0)?,
                peer: r.get(1)?,
                token: r.get(2)?,
                manager: r.get(3)?,
                operation: r.get(4)?,
                secret: r.get(5)?,
                outcome: r.get(6)?,
                status: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn with_lock(
        &self,
        key: &str,
        wait: Duration,
        f: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        let name = (self.path().to_path_buf(), key.to_string());
        let deadline = Instant::now() + wait;
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(&name) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(lock_timeout());
            }
            held = RELEASED
                .wait_timeout(held, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        held.insert(name.clone());
        drop(held);
        // Released even if `f` panics.
        struct Release((PathBuf, String));
        impl Drop for Release {
            fn drop(&mut self) {
                HELD.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&self.0);
                RELEASED.notify_all();
            }
        }
        let _release = Release(name);
        f()
    }
}

fn sqlite_token(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TokenRecord>> {
    let role: String = row.get(2)?;
    let record = TokenRecord {
        id: row.get(0)?,
        manager: row.get(1)?,
        role: Role::Read,
        created_ms: row.get(3)?,
        expires_ms: row.get(4)?,
        revoked_ms: row.get(5)?,
    };
    Ok(Role::parse(&role).map(|role| TokenRecord { role, ..record }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, role: Role) -> TokenRecord {
        TokenRecord {
            id: id.to_string(),
            manager: "default".to_string(),
            role,
            created_ms: 1_000,
            expires_ms: Some(5_000),
            revoked_ms: None,
        }
    }

    #[test]
    fn tokens_are_found_by_hash_and_revoked_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("db")).unwrap();
        db.insert_token(&token("a", Role::Read), "h1").unwrap();
        db.insert_token(&token("b", Role::Admin), "h2").unwrap();
        assert!(db.insert_token(&token("c", Role::Read), "h1").is_err());
        let found = db.token_by_hash("h2").unwrap().unwrap();
        assert_eq!(found.role, Role::Admin);
        assert!(found.valid_at(4_999) && !found.valid_at(5_000));
        assert_eq!(db.token_by_hash("nope").unwrap(), None);
        db.revoke_token("a", 2_000).unwrap();
        db.revoke_token("a", 3_000).unwrap();
        let a = db.token_by_hash("h1").unwrap().unwrap();
        assert_eq!(a.revoked_ms, Some(2_000));
        assert!(!a.valid_at(1_500));
        assert_eq!(
            db.revoke_token("zzz", 1).unwrap_err().kind().as_str(),
            "not-found"
        );
        assert_eq!(db.tokens().unwrap().len(), 2);
    }

    #[test]
    fn a_named_lock_is_held_by_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("db")).unwrap();
        let inside = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    db.with_lock("k", Duration::from_secs(30), &mut || {
                        let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        assert_eq!(now, 0, "two holders at once");
                        std::thread::sleep(Duration::from_millis(5));
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
                });
            }
        });
        // A holder keeps a waiter out until its wait runs out.
        db.with_lock("k", Duration::from_secs(5), &mut || {
            let err = db
                .with_lock("k", Duration::from_millis(50), &mut || Ok(()))
                .unwrap_err();
            assert_eq!(err.kind().as_str(), "conflict");
            db.with_lock("other", Duration::from_millis(50), &mut || Ok(()))
        })
        .unwrap();
    }

    #[test]
    fn the_audit_log_keeps_the_latest_entries_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("db")).unwrap();
        for i in 0..5 {
            db.append_audit(&[AuditEntry {
                at_ms: i,
                peer: "127.0.0.1".into(),
                token: None,
                manager: Some("default".into()),
                operation: "get-secret".into(),
                secret: Some(format!("s{i}")),
                outcome: "ok".into(),
                status: 200,
            }])
            .unwrap();
        }
        let last = db.audit(2).unwrap();
        assert_eq!(
            last.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
            [3, 4],
            "{last:?}"
        );
    }
}
