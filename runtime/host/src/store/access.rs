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
//! revoked token stays revoked at its first time, a lock wait is bounded,
//! every audit record is linked into one chain) are checked once for both
//! backends in `store::rules`.
//!
//! Guards against an audit record deleted or altered unnoticed: records
//! form a hash chain ([`chain_link`]), and the chain's ends are stored
//! beside it ([`AuditChain`]), so a record missing from its middle or its
//! start, a changed one, and records cut from its end show up when it is
//! walked ([`AccessStore::verify_audit`]), while pruning (which moves the
//! chain's start and appends a record saying so) does not. Not guarded:
//! someone who can write the database can rewrite the whole chain and its
//! ends; the head recorded elsewhere (the audit file carries every link)
//! is what shows that.

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
    /// What its maker called it (`token create --name`), if anything.
    pub name: Option<String>,
    /// When it last opened a request, to the minute (see
    /// [`AccessStore::token_used`]); `None`: never.
    pub last_used_ms: Option<i64>,
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

/// Which audit entries a reading asks for: each field set narrows it to
/// entries equal to it (`manager`, `token`, `outcome`) or within the time
/// (`since_ms`, `until_ms`, inclusive, on when an entry starts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub manager: Option<String>,
    pub token: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// One request as the audit log keeps it, or refused authentications of one
/// address counted together over an interval. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch (of the first request counted).
    pub at_ms: i64,
    /// Of the last request counted (`at_ms` for one request).
    pub last_ms: i64,
    /// How many requests the entry stands for: 1, or the refused
    /// authentications one address made between `at_ms` and `last_ms`.
    pub count: u64,
    /// The peer's address.
    pub peer: String,
    /// The token's id, when the request presented a known one.
    pub token: Option<String>,
    pub manager: Option<String>,
    /// `get-secret`, `list-managers`, `authenticate`, `prune-audit`, ...
    pub operation: String,
    pub secret: Option<String>,
    /// `ok` or the error kind (`unauthorized`, `forbidden`, `not-found`, ...).
    pub outcome: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// A record's place in the audit chain: its sequence number and its link,
/// the SHA-256 (hex) of the link before it and its own content
/// ([`chain_link`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditLink {
    pub seq: i64,
    pub hash: String,
}

/// Where the audit chain starts and ends, kept beside it: records through
/// `pruned.seq` were pruned (or predate the chain), and the first record
/// after it links to `pruned.hash`; the last record appended is `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChain {
    pub pruned: AuditLink,
    pub head: AuditLink,
}

/// The link the first record of a chain follows.
pub const CHAIN_ORIGIN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The link of record `seq` with content `entry` following `previous`:
/// SHA-256 over the previous link and the record's canonical content (a
/// JSON array of its fields in a fixed order, so no two contents encode
/// alike).
pub fn chain_link(previous: &str, seq: i64, entry: &AuditEntry) -> String {
    use sha2::Digest;
    let content = serde_json::json!([
        seq,
        entry.at_ms,
        entry.last_ms,
        entry.count,
        entry.peer,
        entry.token,
        entry.manager,
        entry.operation,
        entry.secret,
        entry.outcome,
        entry.status,
    ]);
    let mut hash = sha2::Sha256::new();
    hash.update(previous.as_bytes());
    hash.update(b"\n");
    hash.update(content.to_string().as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// How long and how much of the audit log a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention {
    /// Records older than this are pruned.
    pub max_age: Option<Duration>,
    /// At most this many records are kept: past it, the oldest are pruned
    /// down to a tenth below it (the newest kept).
    pub max_records: Option<u64>,
}

/// What walking the audit chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerdict {
    Intact {
        /// Records on the chain, all verified.
        records: u64,
        /// Records from before the chain began (a store upgraded from a
        /// layout without one), not covered by it.
        before_chain: u64,
        /// Records through this one were pruned (0: none).
        pruned_through: i64,
        /// The last record: recording it elsewhere is what detects a
        /// rewrite of the whole chain.
        head: AuditLink,
    },
    /// The first broken link: record `seq`, and why.
    Broken { seq: i64, reason: String },
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
    /// Records that the token `id` was used at `now_ms`; a later use
    /// recorded already (by another node) stays.
    fn token_used(&self, id: &str, now_ms: i64) -> Result<()>;
    /// Appends `entries` to the audit chain in one transaction (one sync
    /// to disk for many requests), each linked to the one before it;
    /// returns their links.
    fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<AuditLink>>;
    /// The latest `limit` entries, oldest first.
    fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.audit_matching(&AuditFilter::default(), limit)
    }
    /// The latest `limit` entries `filter` selects, oldest first; the
    /// store looks at every entry it keeps, not only the latest.
    fn audit_matching(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Deletes the oldest records past `retention` at `now_ms`, records
    /// where the chain now starts, and appends a `prune-audit` record
    /// counting them; how many were deleted.
    fn prune_audit(&self, retention: &AuditRetention, now_ms: i64) -> Result<u64>;
    /// Walks the audit chain from where it starts to its recorded head.
    fn verify_audit(&self) -> Result<AuditVerdict>;
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
