//! A client's offline cache: the last value of each secret a client read
//! from a server, kept so that `run`, `resolve` and `secret get` keep
//! working for a bounded time while the server cannot be reached (opt-in:
//! the CLI's `--cache MAX_AGE`).
//!
//! Guards against the cache becoming a second, weaker store:
//! - nothing is in plaintext on disk: each entry is sealed with
//!   XChaCha20-Poly1305 under a key derived from a random cache key (its
//!   own file, created 0600 in a 0700 directory) *and* the token, so
//!   neither the cache directory alone nor the token alone opens an entry,
//!   and one token never opens what another read (another token may have
//!   another role or manager);
//! - entry file names are keyed hashes: they do not show which server,
//!   manager or secret they hold, and an entry moved to another name does
//!   not open (the name is the associated data);
//! - an entry is never used past its age: it carries the time it was read
//!   (inside the seal), is refused once older than the maximum age the
//!   caller gives (or dated in the future: a clock set back does not
//!   stretch it), and is removed when found so;
//! - a damaged or planted file is one that does not open, read no further
//!   than [`MAX_ENTRY_BYTES`]: it is ignored, never trusted.
//!
//! Only reachability falls back to the cache (the client's choice, see
//! `client.rs`): a server that answers, even with a refusal, is believed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use zeroize::Zeroizing;

use super::tokens::now_ms;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The cache key's file in the cache directory.
pub const KEY_FILE: &str = "cache.key";
/// The largest entry read: a secret's values at most, and their seal.
pub const MAX_ENTRY_BYTES: u64 = 2 * 1024 * 1024;
/// How far in the future an entry's read time may be (clock skew between
/// the writes of one machine) before it is refused as dated wrongly.
const FUTURE_SKEW_MS: i64 = 60_000;
/// What the derived keys are for (BLAKE3's key derivation context).
const SEALING_CONTEXT: &str = "flavorbox 2026-12 offline cache: entry sealing key";
const NAMING_CONTEXT: &str = "flavorbox 2026-12 offline cache: entry naming key";
const NONCE_LEN: usize = 24;

/// The offline cache in one directory, with the longest an entry is used.
pub struct OfflineCache {
    dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
    max_age: Duration,
    /// Told each time a value is served from the cache: the secret and its
    /// age (the CLI says so on stderr).
    on_use: OnUse,
}

/// What is told each time a value is served from the cache: the secret's
/// name and its age.
pub type OnUse = Box<dyn Fn(&str, Duration) + Send + Sync>;

/// Shows where the cache is and how long it keeps, never its key.
impl std::fmt::Debug for OfflineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineCache")
            .field("dir", &self.dir)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// Whose reads an entry holds: a server, a token, and a manager on it
/// (`None`: the token's own, as the client asked).
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub server: &'a str,
    pub token: &'a str,
    pub manager: Option<&'a str>,
}

/// What one sealed entry holds.
#[derive(Serialize, Deserialize)]
struct Entry {
    read_ms: i64,
    /// A secret (`values` set) or the name of the token's own manager.
    name: String,
    schema: String,
    values: Vec<(String, String)>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for (_, value) in &mut self.values {
            value.zeroize();
        }
    }
}

impl OfflineCache {
    /// The cache in `dir` (created 0700 if missing), its key file read or
    /// created; entries older than `max_age` are never used. A key file
    /// others may read is refused, as the store's key file is.
    pub fn open(dir: &Path, max_age: Duration, on_use: OnUse) -> Result<OfflineCache> {
        let cannot = |what: &str, e: &dyn std::fmt::Display| {
            Error::host(format!(
                "offline cache {}: cannot {what}: {e}",
                dir.display()
            ))
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| cannot("create it", &e))?;
        let path = dir.join(KEY_FILE);
        let key = match std::fs::File::open(&path) {
            Ok(file) => read_key(file, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                let mut staged = tempfile::Builder::new()
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .tempfile_in(dir)
                    .map_err(|e| cannot("create its key file", &e))?;
                staged
                    .write_all(&key)
                    .map_err(|e| cannot("write its key file", &e))?;
                // A key file another client made first wins; this one is
                // dropped.
                match staged.persist_noclobber(&path) {
                    Ok(_) => {}
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(cannot("keep its key file", &e.error)),
                }
                read_key(
                    std::fs::File::open(&path).map_err(|e| cannot("read its key file", &e))?,
                    &path,
                )?
            }
            Err(e) => return Err(cannot("read its key file", &e)),
        };
        Ok(OfflineCache {
            dir: dir.to_path_buf(),
            key,
            max_age,
            on_use,
        })
    }

    /// The longest an entry is used.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Keeps `secret` as `scope` read it just now (replacing what was kept).
    pub fn put_secret(&self, scope: Scope<'_>, secret: &Secret) -> Result<()> {
        let entry = Entry {
            read_ms: now_ms(),
            name: secret.name().to_string(),
            schema: secret.schema().to_string(),
            values: secret
                .values()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        self.put(scope, &format!("secret/{}", secret.name()), &entry)
    }

    /// The secret `name` as `scope` last read it, if that was within the
    /// maximum age (the caller is told through `on_use`).
    pub fn secret(&self, scope: Scope<'_>, name: &str) -> Option<Secret> {
        let mut entry = self.get(scope, &format!("secret/{name}"))?;
        let values = std::mem::take(&mut entry.values);
        let secret = Secret::new(entry.name.clone(), entry.schema.clone(), values).ok()?;
        (secret.name() == name).then_some(secret)
    }

    /// Keeps the name of the token's own manager (what a client without
    /// `--manager` asks the server first).
    pub fn put_own_manager(&self, scope: Scope<'_>, manager: &str) -> Result<()> {
        let entry = Entry {
            read_ms: now_ms(),
            name: manager.to_string(),
            schema: String::new(),
            values: Vec::new(),
        };
        self.put(scope, "own-manager", &entry)
    }

    /// The token's own manager as last asked, within the maximum age.
    pub fn own_manager(&self, scope: Scope<'_>) -> Option<String> {
        Some(self.get(scope, "own-manager")?.name.clone())
    }

    /// Where the entry `what` of `scope` lives: a keyed hash of both.
    fn file_name(&self, scope: Scope<'_>, what: &str) -> String {
        let naming = blake3::derive_key(NAMING_CONTEXT, self.key.as_ref());
        let mut hasher = blake3::Hasher::new_keyed(&naming);
        for part in [scope.server, scope.manager.unwrap_or(""), what] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.update(&sha2::Sha256::digest(scope.token));
        hasher.finalize().to_hex()[..40].to_string()
    }

    /// The key `scope`'s entries are sealed under: the cache key and the
    /// token, neither enough alone.
    fn cipher(&self, scope: Scope<'_>) -> XChaCha20Poly1305 {
        let mut material = Zeroizing::new(Vec::with_capacity(96));
        material.extend_from_slice(self.key.as_ref());
        material.extend_from_slice(&sha2::Sha256::digest(scope.token));
        let key = Zeroizing::new(blake3::derive_key(SEALING_CONTEXT, &material));
        XChaCha20Poly1305::new(key.as_ref().into())
    }

    fn put(&self, scope: Scope<'_>, what: &str, entry: &Entry) -> Result<()> {
        let name = self.file_name(scope, what);
        let plaintext = Zeroizing::new(serde_json::to_vec(entry).map_err(Error::host)?);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher(scope)
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| Error::host("cannot seal an offline cache entry"))?;
        let cannot = |e: &dyn std::fmt::Display| {
            Error::host(format!(
                "offline cache {}: cannot write an entry: {e}",
                self.dir.display()
            ))
        };
        let mut staged = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&self.dir)
            .map_err(|e| cannot(&e))?;
        staged.write_all(&nonce).map_err(|e| cannot(&e))?;
        staged.write_all(&sealed).map_err(|e| cannot(&e))?;
        staged
            .persist(self.dir.join(&name))
            .map_err(|e| cannot(&e.error))?;
        Ok(())
    }

    /// The entry `what` of `scope` if it opens and is within the maximum
    /// age; one past it is removed.
    fn get(&self, scope: Scope<'_>, what: &str) -> Option<Entry> {
        let name = self.file_name(scope, what);
        let path = self.dir.join(&name);
        let mut sealed = Vec::new();
        std::fs::File::open(&path)
            .ok()?
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut sealed)
            .ok()?;
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plaintext = Zeroizing::new(
            self.cipher(scope)
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: name.as_bytes(),
                    },
                )
                .ok()?,
        );
        let entry: Entry = serde_json::from_slice(&plaintext).ok()?;
        let age_ms = now_ms() - entry.read_ms;
        let max_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        if age_ms > max_ms || age_ms < -FUTURE_SKEW_MS {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        if what != "own-manager" {
            (self.on_use)(&entry.name, Duration::from_millis(age_ms.max(0) as u64));
        }
        Some(entry)
    }
}

/// The 32 bytes of a cache key file; refused if others may read it or it
/// is not 32 bytes.
fn read_key(mut file: std::fs::File, path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    use std::os::unix::fs::MetadataExt;
    let refused = |why: &str| {
        Error::denied(format!(
            "offline cache key {}: {why}; remove the cache directory to start afresh",
            path.display()
        ))
    };
    let meta = file.metadata().map_err(Error::host)?;
    if meta.mode() & 0o077 != 0 {
        return Err(refused("others may read it"));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(33));
    (&mut file)
        .take(33)
        .read_to_end(&mut bytes)
        .map_err(Error::host)?;
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(refused("it is not a cache key"));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, max_age: Duration) -> OfflineCache {
        OfflineCache::open(dir, max_age, Box::new(|_, _| {})).unwrap()
    }

    const SCOPE: Scope<'static> = Scope {
        server: "http://127.0.0.1:8200",
        token: "fbx_token_one",
        manager: None,
    };

    fn secret() -> Secret {
        Secret::new("db", "arbitrary", [("password".into(), "pw-9c1e".into())]).unwrap()
    }

    #[test]
    fn an_entry_opens_for_its_own_scope_only_and_holds_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), Duration::from_secs(60));
        cache.put_secret(SCOPE, &secret()).unwrap();
        assert_eq!(cache.secret(SCOPE, "db"), Some(secret()));
        assert_eq!(cache.secret(SCOPE, "other"), None);
        for other in [
            Scope {
                token: "fbx_token_two",
                ..SCOPE
            },
            Scope {
                server: "http://127.0.0.1:8201",
                ..SCOPE
            },
            Scope {
                manager: Some("default"),
                ..SCOPE
            },
        ] {
            assert_eq!(cache.secret(other, "db"), None);
        }
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains("pw-9c1e"));
        }
        // Another cache key (a fresh directory) opens nothing either.
        let elsewhere = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() != KEY_FILE {
                std::fs::copy(entry.path(), elsewhere.path().join(entry.file_name())).unwrap();
            }
        }
        let other = self::cache(elsewhere.path(), Duration::from_secs(60));
        assert_eq!(other.secret(SCOPE, "db"), None);
    }

    #[test]
    fn an_entry_past_its_age_moved_or_damaged_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let kept = cache(dir.path(), Duration::from_secs(60));
        kept.put_secret(SCOPE, &secret()).unwrap();
        kept.put_own_manager(SCOPE, "default").unwrap();
        let name = kept.file_name(SCOPE, "secret/db");
        let manager_file = kept.file_name(SCOPE, "own-manager");
        // Moved onto another entry's name: its name is its associated data.
        std::fs::copy(dir.path().join(&name), dir.path().join(&manager_file)).unwrap();
        assert_eq!(kept.own_manager(SCOPE), None);
        // Damaged.
        let mut bytes = std::fs::read(dir.path().join(&name)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(dir.path().join(&name), &bytes).unwrap();
        assert_eq!(kept.secret(SCOPE, "db"), None);
        // Past its age: refused, and removed.
        kept.put_secret(SCOPE, &secret()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let strict = cache(dir.path(), Duration::from_millis(10));
        assert_eq!(strict.secret(SCOPE, "db"), None);
        assert!(!dir.path().join(&name).exists());
    }

    #[test]
    fn a_key_file_others_may_read_or_of_another_length_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        drop(cache(dir.path(), Duration::from_secs(1)));
        let key = dir.path().join(KEY_FILE);
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open =
            |dir: &Path| OfflineCache::open(dir, Duration::from_secs(1), Box::new(|_, _| {}));
        assert!(
            open(dir.path())
                .unwrap_err()
                .is(crate::error::ErrorKind::Denied)
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&key, b"short").unwrap();
        assert!(
            open(dir.path())
                .unwrap_err()
                .is(crate::error::ErrorKind::Denied)
        );
    }
}
