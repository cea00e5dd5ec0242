//! API tokens: made here, checked here, stored only as a hash.
//!
//! A token is `fbx_<id>_<secret>`: 48 random bits of public id (what lists
//! and the audit log name) and 256 random bits of secret, from the operating
//! system's generator. Only the SHA-256 of the whole text is stored, so a
//! copy of the database grants nothing; with 256 bits to guess, a slow hash
//! would add nothing. A presented token is found by its hash, so the lookup
//! costs the same whatever part of a wrong token matches.
//!
//! A token opens the secrets manager it was made for by that manager's id,
//! which is never reused: removing the manager revokes it, and a new
//! manager of the same name is not opened by it (see `store::access`).
//!
//! A token may be given a name when made (checked as a secret's name is:
//! 1-128 characters of `[A-Za-z0-9_.-]`), and its last use is recorded at
//! most once per [`LAST_USE_RESOLUTION`], so a busy token costs the store
//! one write a minute, not one per request.
//!
//! Failed attempts are counted per peer address: past a limit per
//! [`FAILURE_WINDOW`] ([`FAILURES_PER_WINDOW`] unless the operator sets
//! another), a peer is refused before its token is even looked at, until the
//! window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::secret::check_name;
use crate::store::{AccessStore, ManagerRecord, Role, TokenRecord};

/// Failed attempts a peer may make per window, by default.
pub const FAILURES_PER_WINDOW: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Peers the limiter remembers; past this, expired windows are forgotten,
/// and if none has expired the oldest are.
const TRACKED_PEERS: usize = 10_000;
/// Longest token text looked at.
const MAX_TOKEN_LEN: usize = 128;
/// A token's last use is written when the one recorded is this much older.
pub const LAST_USE_RESOLUTION: Duration = Duration::from_secs(60);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)
        .map_err(|e| Error::host(format!("the system's random generator failed: {e}")))?;
    Ok(hex(&buf))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

/// The SHA-256 (hex) of a token's text: what the store keeps.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Creates a token for the secrets manager `manager` with `role`, valid for
/// `ttl` (or until revoked or the manager is removed), called `name` if
/// given (a name as a secret's is, else `Invalid`); returns its text,
/// which exists nowhere else, and its record. `NotFound` if the manager was
/// removed meanwhile.
pub fn create(
    access: &dyn AccessStore,
    manager: &ManagerRecord,
    role: Role,
    ttl: Option<Duration>,
    name: Option<&str>,
) -> Result<(String, TokenRecord)> {
    if let Some(name) = name {
        check_name("token name", name)?;
    }
    let id = random_hex(6)?;
    let token = format!("fbx_{id}_{}", random_hex(32)?);
    let created_ms = now_ms();
    let record = TokenRecord {
        id,
        manager_id: Some(manager.id),
        manager: manager.name.clone(),
        role,
        created_ms,
        expires_ms: ttl.map(|ttl| created_ms.saturating_add(ttl.as_millis() as i64)),
        revoked_ms: None,
        name: name.map(str::to_string),
        last_used_ms: None,
    };
    access.insert_token(&record, &hash(&token))?;
    Ok((token, record))
}

/// The valid token whose text is `presented`, if any; its use now is
/// recorded when the last one recorded is [`LAST_USE_RESOLUTION`] old.
pub fn verify(access: &dyn AccessStore, presented: &str) -> Result<Option<TokenRecord>> {
    if presented.is_empty() || presented.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let now = now_ms();
    let Some(mut token) = access
        .token_by_hash(&hash(presented))?
        .filter(|t| t.valid_at(now))
    else {
        return Ok(None);
    };
    let resolution = LAST_USE_RESOLUTION.as_millis() as i64;
    if token.last_used_ms.is_none_or(|at| now - at >= resolution) {
        access.token_used(&token.id, now)?;
        token.last_used_ms = Some(now);
    }
    Ok(Some(token))
}

/// Parses a duration: a number followed by `s`, `m`, `h` or `d`.
pub fn parse_ttl(text: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "ttl `{}` is not a number followed by s, m, h or d (e.g. 30d)",
            crate::text::clip(text, 32)
        ))
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(secs) {
        Some(total) if total > 0 && total <= 10 * 365 * 86_400 => Ok(Duration::from_secs(total)),
        _ => Err(bad()),
    }
}

/// Failed authentication attempts per peer; see the module documentation.
pub struct FailureLimiter {
    limit: u32,
    peers: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// A limiter allowing `limit` failures per peer per window.
    pub fn new(limit: u32) -> FailureLimiter {
        FailureLimiter {
            limit,
            peers: Mutex::default(),
        }
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `peer` used up its failures in the current window.
    pub fn blocked(&self, peer: IpAddr) -> bool {
        self.peers()
            .get(&peer)
            .is_some_and(|(start, n)| start.elapsed() < FAILURE_WINDOW && *n >= self.limit)
    }

    /// Counts a failed attempt of `peer`.
    pub fn failed(&self, peer: IpAddr) {
        let mut peers = self.peers();
        if peers.len() >= TRACKED_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, (start, _)| start.elapsed() < FAILURE_WINDOW);
            if peers.len() >= TRACKED_PEERS {
                let mut starts: Vec<Instant> = peers.values().map(|(s, _)| *s).collect();
                starts.sort_unstable();
                let cut = starts[starts.len() / 2];
                peers.retain(|_, (start, _)| *start > cut);
            }
        }
        let entry = peers.entry(peer).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_and_nonsense_is_refused() {
        assert_eq!(parse_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "d", "5", "5w", "0h", "-1h", "99999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_peer_is_blocked_after_its_failures_and_others_are_not() {
        let limiter = FailureLimiter::new(FAILURES_PER_WINDOW);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..FAILURES_PER_WINDOW {
            assert!(!limiter.blocked(peer));
            limiter.failed(peer);
        }
        assert!(limiter.blocked(peer));
        assert!(!limiter.blocked(other));
    }

    #[test]
    fn tokens_are_stored_as_hashes_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::SqliteDatabase::open(&dir.path().join("db")).unwrap();
        let default = crate::store::Database::manager(&db, "default")
            .unwrap()
            .unwrap();
        let (token, record) = create(&db, &default, Role::Write, None, Some("ci")).unwrap();
        assert!(token.starts_with(&format!("fbx_{}_", record.id)));
        assert_eq!(token.len(), 4 + 12 + 1 + 64);
        let stored = db.token_by_hash(&hash(&token)).unwrap().unwrap();
        assert_eq!(stored, record);
        assert_eq!(stored.name.as_deref(), Some("ci"));
        // The first use is recorded; one within the resolution is not
        // written again.
        let used = verify(&db, &token).unwrap().unwrap();
        let first = used.last_used_ms.expect("the use is recorded");
        assert_eq!(
            used,
            TokenRecord {
                last_used_ms: Some(first),
                ..record.clone()
            }
        );
        let again = verify(&db, &token).unwrap().unwrap();
        assert_eq!(again.last_used_ms, Some(first));
        assert_eq!(
            db.token_by_hash(&hash(&token))
                .unwrap()
                .unwrap()
                .last_used_ms,
            Some(first)
        );
        for bad in ["", "no spaces", "-dash-first", &"n".repeat(129)] {
            let refused = create(&db, &default, Role::Read, None, Some(bad)).unwrap_err();
            assert!(
                refused.is(crate::error::ErrorKind::Invalid),
                "{bad}: {refused}"
            );
        }
        assert_eq!(verify(&db, &token[..token.len() - 1]).unwrap(), None);
        assert_eq!(verify(&db, "").unwrap(), None);
        db.revoke_token(&record.id, now_ms()).unwrap();
        assert_eq!(verify(&db, &token).unwrap(), None);
        // The token's text is nowhere in the store's files.
        let secret = token.rsplit('_').next().unwrap().as_bytes();
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        }
    }
}
