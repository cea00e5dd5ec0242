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
//! Guards against a token outliving its manager: a token is bound to the
//! id of the secrets manager it was made for (ids are never reused), not
//! to its name, and removing the manager revokes its tokens in the same
//! transaction; so a new manager that takes a removed one's name is not
//! opened by the old manager's tokens.
//!
//! This is its own trait, beside [`super::Database`], so code that only
//! reads and writes secrets never holds the tokens. The rules (a token is
//! made for an existing manager, removing a manager revokes its tokens, a
//! revoked token stays revoked at its first time, a lock wait is bounded)
//! are checked once for both backends in `store::rules`.

use std::time::Duration;

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
    /// The id of the secrets manager the token opens ([`super::ManagerRecord::id`],
    /// never reused). `None` only for a token from before tokens were bound
    /// to ids whose manager no longer existed then; such a token was revoked
    /// when its store was brought up to date.
    pub manager_id: Option<i64>,
    /// That manager's name when the token was made (shown in lists; the id
    /// decides what the token opens).
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
        self.state_at(now_ms) == TokenState::Active
    }

    /// What the token is at `now_ms`; a revoked token is revoked whether or
    /// not it has expired too.
    pub fn state_at(&self, now_ms: i64) -> TokenState {
        if self.revoked_ms.is_some() || self.manager_id.is_none() {
            TokenState::Revoked
        } else if self.expires_ms.is_some_and(|t| now_ms >= t) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

/// Whether a token may be used, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    /// Past its lifetime.
    Expired,
    /// Revoked by hand, or with its secrets manager.
    Revoked,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
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
    /// Stores a new token by the SHA-256 (hex) of its text; `NotFound`
    /// unless the secrets manager `record.manager_id` exists and is named
    /// `record.manager`.
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

/// The longest secret or manager name an audit entry keeps (a refused
/// request may name anything).
pub const AUDIT_NAME_CHARS: usize = 200;
