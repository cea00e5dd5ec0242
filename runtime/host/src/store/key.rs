//! The master key that seals a store at rest, where it comes from, and the
//! format of a sealed value.
//!
//! Guards against the key leaking or being lost: it is wiped from memory
//! when dropped and never printed (not even by `Debug`); its file is created
//! 0600 and linked into place atomically, so two processes creating a home
//! at once end up with one key; and a store that was sealed never gets a
//! new key file in place of a missing one (that would make every value
//! unreadable without a word). What is sealed where, and the check that
//! tells a wrong key, are `store::sealed`'s.
//!
//! A key rotation (`store::rotate`) keeps the new key in
//! [`pending_key_file`] (written like any key file) from before it touches
//! the store until the store is under it; then [`promote_pending_key`]
//! links the old key to [`retired_key_file`] and renames the new one over
//! the key file, so at every instant one file holds each key a value may be
//! sealed under.
//!
//! Format of a sealed value: `00 66 62 01` (magic and version 1), a random
//! 24-byte nonce, then XChaCha20-Poly1305 ciphertext and tag; [`OVERHEAD`]
//! bytes more than the plaintext.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// First bytes of every sealed storage value: a NUL (no text format starts
/// with one), `fb`, and the format version.
const MAGIC: [u8; 4] = [0x00, b'f', b'b', 0x01];
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: u64 = (MAGIC.len() + NONCE_LEN + TAG_LEN) as u64;

/// Where the master key came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Passed in by the host; named as the host says (e.g. the variable
    /// it was read from).
    Given(String),
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Given(name) => f.write_str(name),
            KeySource::File(path) => write!(f, "key file {}", path.display()),
        }
    }
}

/// The 32-byte master key; wiped from memory when dropped, never printed.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    pub source: KeySource,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(from {})", self.source)
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate(source: KeySource) -> MasterKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        MasterKey { bytes, source }
    }

    /// Parses base64 (standard, padded or not) or hex of exactly 32 bytes.
    pub fn decode(text: &str, source: KeySource) -> Result<MasterKey> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex_decode(text)
            } else {
                BASE64
                    .decode(text)
                    .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                    .ok()
            }
            .unwrap_or_default(),
        );
        if decoded.len() != 32 {
            return Err(Error::invalid(format!(
                "the master key in {source} is not 32 bytes of base64 or hex"
            )));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&decoded);
        Ok(MasterKey { bytes, source })
    }

    /// The key as the key file and `FLAVORBOX_MASTER_KEY` hold it (base64).
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(*self.bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_ref().into())
    }

    /// Seals `plaintext` bound to `aad`: magic, nonce, ciphertext and tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length the store holds");
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD as usize);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a sealed value, or `None` if it is not one sealed with this key
    /// for this `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let body = sealed.strip_prefix(&MAGIC)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `value` looks sealed (it may still fail to open).
pub fn is_sealed(value: &[u8]) -> bool {
    value.starts_with(&MAGIC)
}

/// Reads the master key of a store from its key file (created 0600,
/// atomically, when the store holds no sealed data yet). `sealed_store`
/// says whether the store was sealed before, in which case a missing key
/// file is an error and never replaced.
pub fn load_key_file(key_file: &Path, sealed_store: bool) -> Result<MasterKey> {
    let source = KeySource::File(key_file.to_path_buf());
    match std::fs::File::open(key_file) {
        Ok(file) => {
            refuse_exposed_key(&file, key_file)?;
            let mut text = Zeroizing::new(String::new());
            std::io::Read::read_to_string(&mut &file, &mut text).map_err(|err| {
                Error::host(format!(
                    "cannot read the master key {}: {err}",
                    key_file.display()
                ))
            })?;
            MasterKey::decode(&text, source)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if sealed_store {
                return Err(Error::host(format!(
                    "the store is sealed, but its master key is missing: {} does not exist \
                     and no key was given (`FLAVORBOX_MASTER_KEY` for the CLI); restore the \
                     key file (it is never re-created for a sealed store)",
                    key_file.display()
                )));
            }
            create_key_file(key_file)
        }
        Err(err) => Err(Error::host(format!(
            "cannot read the master key {}: {err}",
            key_file.display()
        ))),
    }
}

/// Where a key rotation keeps the new key beside `key_file` until the
/// store is under it (`master.key.new`).
pub fn pending_key_file(key_file: &Path) -> PathBuf {
    with_suffix(key_file, ".new")
}

/// Where the key before the last rotation is kept beside `key_file` until
/// the operator deletes it (`master.key.old`).
pub fn retired_key_file(key_file: &Path) -> PathBuf {
    with_suffix(key_file, ".old")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Once the store is under the key in [`pending_key_file`]: keeps the key
/// in `key_file` as [`retired_key_file`] (a hard link; one an interrupted
/// earlier call made is kept) and renames the pending key over `key_file`.
pub fn promote_pending_key(key_file: &Path) -> Result<()> {
    let failed = |what: &str, err: std::io::Error| {
        Error::host(format!(
            "the store is under the new master key, but {what} failed: {err}; run the \
             rotation again to finish it"
        ))
    };
    let retired = retired_key_file(key_file);
    match std::fs::hard_link(key_file, &retired) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(failed(&format!("keeping {}", retired.display()), err)),
    }
    let pending = pending_key_file(key_file);
    std::fs::rename(&pending, key_file).map_err(|err| {
        failed(
            &format!("moving {} to {}", pending.display(), key_file.display()),
            err,
        )
    })?;
    let dir = key_file.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| failed(&format!("syncing {}", dir.display()), err))
}

/// Refuses a key file others may read or write, or another user owns: the
/// key may already have been copied (a store sealed under it is then only
/// as safe as that copy), or swapped. It is refused rather than tightened,
/// since tightening would hide that; flavorbox writes its key files 0600.
fn refuse_exposed_key(file: &std::fs::File, key_file: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().map_err(|err| {
            Error::host(format!(
                "cannot read the master key {}: {err}",
                key_file.display()
            ))
        })?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(Error::denied(format!(
                "the master key {} is owned by another user (uid {}); refusing to use it",
                key_file.display(),
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(Error::denied(format!(
                "the master key {} may be read or written by others (mode {:o}); refusing to \
                 use it: `chmod 600` it, and treat the store's values as exposed to whoever \
                 could read it",
                key_file.display(),
                meta.mode() & 0o7777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (file, key_file);
    Ok(())
}

/// Writes a new key to a private temporary file and links it into place
/// without replacing anything, so two processes creating a home at once end
/// up with the same key.
fn create_key_file(key_file: &Path) -> Result<MasterKey> {
    use std::io::Write;
    let key = MasterKey::generate(KeySource::File(key_file.to_path_buf()));
    let dir = key_file.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".master.key.{}.tmp", std::process::id()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(key.encode().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, key_file)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(key),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(key_file).map_err(|e| {
                Error::host(format!(
                    "cannot read the master key {}: {e}",
                    key_file.display()
                ))
            })?;
            MasterKey::decode(
                &Zeroizing::new(text),
                KeySource::File(key_file.to_path_buf()),
            )
        }
        Err(err) => Err(Error::host(format!(
            "cannot create the master key {}: {err}",
            key_file.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_from_base64_and_hex_only_at_32_bytes() {
        let k = MasterKey::generate(KeySource::Given("test".to_string()));
        let b64 = k.encode();
        let again = MasterKey::decode(&b64, KeySource::Given("test".to_string())).unwrap();
        assert_eq!(*again.bytes, *k.bytes);
        let hex: String = k.bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            *MasterKey::decode(&hex, KeySource::Given("test".to_string()))
                .unwrap()
                .bytes,
            *k.bytes
        );
        for bad in ["", "short", "AAAA", &"a".repeat(63)] {
            assert!(
                MasterKey::decode(bad, KeySource::Given("test".to_string())).is_err(),
                "{bad}"
            );
        }
        assert!(!format!("{k:?}").contains(b64.as_str()));
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_associated_data() {
        let k = MasterKey::generate(KeySource::Given("test".to_string()));
        let sealed = k.seal(b"here", b"plain");
        assert!(is_sealed(&sealed));
        assert_eq!(sealed.len() as u64, 5 + OVERHEAD);
        assert_eq!(k.open(b"here", &sealed).as_deref(), Some(&b"plain"[..]));
        assert_eq!(k.open(b"there", &sealed), None);
        let other = MasterKey::generate(KeySource::Given("other".to_string()));
        assert_eq!(other.open(b"here", &sealed), None);
        assert_eq!(k.open(b"here", &sealed[..20]), None);
    }
}
