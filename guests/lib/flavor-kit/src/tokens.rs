//! Bearer tokens a flavor gets by logging in (an AppRole login, a
//! service-account JWT exchange, ...): cached in this manager's storage
//! until shortly before they expire, so a call usually costs one request,
//! not two; and the one retry a cached token earns when the server
//! refuses it. How to log in is the flavor's.
//!
//! Guards against: one configuration's cached token serving another (the
//! storage key is a digest of everything the token depends on, credentials
//! included, and reveals none of it); a token lapsing between being read
//! and being used (it is dropped a quarter of its lifetime early, at most
//! a margin the flavor picks); a refused cache write failing the call
//! (caching is an optimisation: it is logged, without the token); a
//! revoked cached token failing calls until it expires (a refusal of a
//! cached token drops it and logs in again, once).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wasi_http_client::Response;

use crate::{Error, errors, storage};

/// A token and whether it came from the cache (and may have been revoked
/// since).
pub struct Token {
    pub value: String,
    pub cached: bool,
}

/// Where the token of one configuration is cached.
pub struct TokenCache {
    key: String,
}

impl TokenCache {
    /// The cache of the token that `parts` (endpoint, account, credentials,
    /// ...) determine, under the storage key `<prefix>/<digest of parts>`.
    pub fn new(prefix: &str, parts: &[&str]) -> TokenCache {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        TokenCache {
            key: format!("{prefix}/{hex}"),
        }
    }

    /// The storage key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The cached token, if there is one and it is still to be used.
    pub fn get(&self) -> Option<Token> {
        let bytes = storage::get(&self.key).ok()??;
        is_fresh(&bytes, now()).map(|value| Token {
            value,
            cached: true,
        })
    }

    /// Caches `token` until `use_until` (seconds since the epoch; `None`:
    /// until the server refuses it). A failure is logged at warn level as
    /// `the <what> was not cached: ...`.
    pub fn put(&self, what: &str, token: &str, use_until: Option<u64>) {
        let entry = json!({ "token": token, "use_until": use_until });
        if let Err(e) = storage::set(&self.key, entry.to_string().as_bytes()) {
            errors::log_ignored(&format!("the {what} was not cached"), &e);
        }
    }

    /// Drops the cached token (the server refused it).
    pub fn forget(&self) {
        let _ = storage::delete(&self.key);
    }
}

/// The token in cache entry `bytes`, if it is to be used at `now`.
fn is_fresh(bytes: &[u8], now: u64) -> Option<String> {
    let entry: Value = serde_json::from_slice(bytes).ok()?;
    let fresh = match entry["use_until"].as_u64() {
        Some(until) => now < until,
        None => entry["use_until"].is_null(),
    };
    let token = entry["token"].as_str()?;
    (fresh && !token.is_empty()).then(|| token.to_string())
}

/// When a token that lives `lifetime` seconds from `now` stops being used:
/// a quarter of its lifetime early, at most `max_margin` seconds.
pub fn use_until(now: u64, lifetime: u64, max_margin: u64) -> u64 {
    now.saturating_add(lifetime - (lifetime / 4).min(max_margin))
}

/// Seconds since the epoch, by the wall clock.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sends a request with `token` through `send`; when the server answers
/// `refused` (401 or 403, as the backend does) to a cached token, gets a
/// fresh one from `renew` (which drops the cached one) and sends again,
/// once. Returns the response and every token sent, to be masked in a
/// message about it.
pub fn send_renewing(
    token: Token,
    refused: u16,
    mut send: impl FnMut(&str) -> Result<Response, Error>,
    renew: impl FnOnce() -> Result<String, Error>,
) -> Result<(Response, Vec<String>), Error> {
    let response = send(&token.value)?;
    if response.status != refused || !token.cached {
        return Ok((response, vec![token.value]));
    }
    let fresh = renew()?;
    let response = send(&fresh)?;
    Ok((response, vec![token.value, fresh]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn token(value: &str, cached: bool) -> Token {
        Token {
            value: value.into(),
            cached,
        }
    }

    #[test]
    fn cache_keys_are_digests_of_every_part() {
        let key = TokenCache::new("vault/token", &["https://v:8200", "role", "s3cr3t"]);
        assert!(key.key().starts_with("vault/token/"), "{}", key.key());
        assert_eq!(key.key().len(), "vault/token/".len() + 32);
        assert!(!key.key().contains("s3cr3t"));
        let same = TokenCache::new("vault/token", &["https://v:8200", "role", "s3cr3t"]);
        assert_eq!(key.key(), same.key());
        // Parts are delimited: moving a boundary makes another key.
        for other in [
            TokenCache::new("vault/token", &["https://v:8200", "role", "s3cr3u"]),
            TokenCache::new("vault/token", &["https://v:8200", "roles", "3cr3t"]),
            TokenCache::new("gcp/token", &["https://v:8200", "role", "s3cr3t"]),
        ] {
            assert_ne!(key.key(), other.key());
        }
    }

    #[test]
    fn entries_are_used_until_their_time() {
        let entry = |until: Value| json!({ "token": "t", "use_until": until }).to_string();
        assert_eq!(
            is_fresh(entry(json!(100)).as_bytes(), 99).as_deref(),
            Some("t")
        );
        assert_eq!(is_fresh(entry(json!(100)).as_bytes(), 100), None);
        assert_eq!(
            is_fresh(entry(Value::Null).as_bytes(), u64::MAX).as_deref(),
            Some("t")
        );
        assert_eq!(is_fresh(entry(json!("100")).as_bytes(), 1), None);
        assert_eq!(is_fresh(br#"{"token":"","use_until":null}"#, 1), None);
        assert_eq!(is_fresh(b"not json", 1), None);
    }

    #[test]
    fn tokens_retire_early() {
        assert_eq!(use_until(1_000, 3600, 300), 1_000 + 3300);
        assert_eq!(use_until(1_000, 3600, 30), 1_000 + 3570);
        assert_eq!(use_until(1_000, 40, 30), 1_000 + 30);
        assert_eq!(use_until(u64::MAX - 1, 3600, 300), u64::MAX);
    }

    #[test]
    fn only_a_refused_cached_token_is_renewed_once() {
        let mut sent = Vec::new();
        let (reply, tokens) = send_renewing(
            token("old", true),
            403,
            |t| {
                sent.push(t.to_string());
                Ok(response(if t == "old" { 403 } else { 200 }))
            },
            || Ok("new".to_string()),
        )
        .unwrap();
        assert_eq!(
            (reply.status, tokens),
            (200, vec!["old".into(), "new".into()])
        );
        assert_eq!(sent, ["old", "new"]);

        for (cached, status) in [(false, 403), (true, 401), (true, 200)] {
            let (reply, tokens) = send_renewing(
                token("t", cached),
                403,
                |_| Ok(response(status)),
                || panic!("renewed after {status} (cached: {cached})"),
            )
            .unwrap();
            assert_eq!((reply.status, tokens), (status, vec!["t".to_string()]));
        }

        let failed = send_renewing(
            token("old", true),
            401,
            |_| Ok(response(401)),
            || Err(Error::Denied("login refused".into())),
        );
        assert!(matches!(failed, Err(Error::Denied(m)) if m == "login refused"));
    }
}
