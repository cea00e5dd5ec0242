//! Encryption at rest, for any [`Database`] backend.
//!
//! Guards against someone who gets a copy of the store file (a backup, a
//! stolen disk, a database dump) reading secrets from it: every value in a
//! manager's storage namespace and every secrets-manager config value is
//! sealed with XChaCha20-Poly1305 under a 32-byte master key that is kept
//! apart from the store (a key file in the home, or a key its host passes
//! in: the CLI reads `FLAVORBOX_MASTER_KEY`).
//! Each sealed value has its own random 24-byte nonce, and its associated
//! data binds it to where it lives (the manager's id and the storage key, or
//! the manager's name and the config key), so a value copied to another key
//! or another namespace does not open: it is refused, never served.
//!
//! [`SealedDatabase`] wraps any backend and is transparent to flavors: the
//! `storage` capability sees plaintext, the backend only ever sees sealed
//! bytes. A store whose key is missing or different is refused with one line
//! that says so (a sealed check value in the store's metadata tells a wrong
//! key from a damaged value), never answered with garbage.
//!
//! Format of a sealed storage value: `00 66 62 01` (magic and version 1),
//! the nonce, then ciphertext and tag; 44 bytes more than the plaintext.
//! Quotas count plaintext: [`SealedNamespace`] reports lengths and usage
//! without that overhead, so a flavor's quota means what it says.
//!
//! Stores from before sealing (layout 1) are sealed in place by the first
//! open that has a key: layout 2 marks such a store `unsealed`, and
//! [`SealedDatabase::open`] seals every value (skipping those that already
//! open, so an interrupted conversion resumes) before clearing the mark.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::{Database, FlavorRecord, ManagerRecord, NamespaceTxn, TxnMode, Usage};
use crate::error::{Error, Result};
use crate::policy::{ManagerLimits, Policy};
use crate::schema::Schema;

/// First bytes of every sealed storage value: a NUL (no text format starts
/// with one), `fb`, and the format version.
const MAGIC: [u8; 4] = [0x00, b'f', b'b', 0x01];
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: u64 = (MAGIC.len() + NONCE_LEN + TAG_LEN) as u64;
/// Prefix of a sealed config value (text, as config is stored as text).
const CONFIG_PREFIX: &str = "sealed:v1:";

/// Metadata key of the sealed check value that tells a wrong key.
pub const META_KEY_CHECK: &str = "key-check";
/// Metadata key marking a store whose values are not all sealed yet
/// (written by layout migration 2 on a store that held data).
pub const META_UNSEALED: &str = "unsealed";
const KEY_CHECK_PLAINTEXT: &[u8] = b"flavorbox master key check";

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

fn kv_aad(namespace: i64, key: &str) -> Vec<u8> {
    let mut aad = b"flavorbox/kv/v1\0".to_vec();
    aad.extend_from_slice(&namespace.to_be_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad
}

fn config_aad(manager: &str, key: &str) -> Vec<u8> {
    format!("flavorbox/config/v1\0{manager}\0{key}").into_bytes()
}

const KEY_CHECK_AAD: &[u8] = b"flavorbox/key-check/v1";

/// Reads the master key of a store from its key file (created 0600,
/// atomically, when the store holds no sealed data yet). `sealed_store`
/// says whether the store was sealed before, in which case a missing key
/// file is an error and never replaced.
pub fn load_key_file(key_file: &Path, sealed_store: bool) -> Result<MasterKey> {
    let source = KeySource::File(key_file.to_path_buf());
    match std::fs::read_to_string(key_file) {
        Ok(text) => MasterKey::decode(&Zeroizing::new(text), source),
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

/// A [`Database`] whose namespace values and manager config are sealed.
pub struct SealedDatabase {
    inner: Arc<dyn Database>,
    key: MasterKey,
}

impl SealedDatabase {
    /// Checks `key` against the store (recording a check value in a store
    /// that has none) and seals whatever an older flavorbox left in plain
    /// text.
    pub fn open(inner: Arc<dyn Database>, key: MasterKey) -> Result<SealedDatabase> {
        let db = SealedDatabase { inner, key };
        match db.inner.meta(META_KEY_CHECK)? {
            Some(check) => db.verify(&check)?,
            None => {
                let check = db.key.seal(KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT);
                if !db.inner.insert_meta(META_KEY_CHECK, &check)? {
                    // Another process recorded its check first.
                    let check = db.inner.meta(META_KEY_CHECK)?.unwrap_or_default();
                    db.verify(&check)?;
                }
            }
        }
        if db.inner.meta(META_UNSEALED)?.is_some() {
            db.seal_legacy()?;
        }
        Ok(db)
    }

    fn verify(&self, check: &[u8]) -> Result<()> {
        match self.key.open(KEY_CHECK_AAD, check) {
            Some(plain) if plain == KEY_CHECK_PLAINTEXT => Ok(()),
            _ => Err(Error::host(format!(
                "the master key from {} does not open this store (it was sealed with another \
                 key); nothing was read or written",
                self.key.source
            ))),
        }
    }

    /// Seals every value of a store written before sealing existed. Values
    /// that already open were sealed by an earlier, interrupted run.
    fn seal_legacy(&self) -> Result<()> {
        for record in self.inner.managers()? {
            let mut txn = self.inner.namespace(record.id, TxnMode::Write)?;
            for key in txn.list_keys("")? {
                let Some(value) = txn.get(&key)? else {
                    continue;
                };
                let aad = kv_aad(record.id, &key);
                if self.key.open(&aad, &value).is_none() {
                    txn.set(&key, &self.key.seal(&aad, &value))?;
                }
            }
            txn.commit()?;
            let config = record
                .config
                .iter()
                .map(|(k, v)| {
                    let sealed = if self.open_config(&record.name, k, v).is_ok() {
                        v.clone()
                    } else {
                        self.seal_config(&record.name, k, v)
                    };
                    (k.clone(), sealed)
                })
                .collect();
            self.inner.update_manager_config(&record.name, &config)?;
        }
        self.inner.delete_meta(META_UNSEALED)
    }

    fn seal_config(&self, manager: &str, key: &str, value: &str) -> String {
        let sealed = self.key.seal(&config_aad(manager, key), value.as_bytes());
        format!("{CONFIG_PREFIX}{}", BASE64.encode(sealed))
    }

    fn open_config(&self, manager: &str, key: &str, value: &str) -> Result<String> {
        let unreadable = || {
            Error::host(format!(
                "config value `{key}` of secrets manager `{manager}` does not open with the \
                 master key; the store was altered outside flavorbox"
            ))
        };
        let sealed = value
            .strip_prefix(CONFIG_PREFIX)
            .and_then(|b64| BASE64.decode(b64).ok())
            .ok_or_else(unreadable)?;
        let plain = self
            .key
            .open(&config_aad(manager, key), &sealed)
            .ok_or_else(unreadable)?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }

    fn seal_all(
        &self,
        manager: &str,
        config: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        config
            .iter()
            .map(|(k, v)| (k.clone(), self.seal_config(manager, k, v)))
            .collect()
    }

    fn opened(&self, mut record: ManagerRecord) -> Result<ManagerRecord> {
        let mut config = BTreeMap::new();
        for (k, v) in &record.config {
            config.insert(k.clone(), self.open_config(&record.name, k, v)?);
        }
        record.config = config;
        Ok(record)
    }

    fn opened_opt(&self, record: Option<ManagerRecord>) -> Result<Option<ManagerRecord>> {
        record.map(|r| self.opened(r)).transpose()
    }
}

impl Database for SealedDatabase {
    fn flavors(&self) -> Result<Vec<FlavorRecord>> {
        self.inner.flavors()
    }
    fn flavor(&self, name: &str) -> Result<Option<FlavorRecord>> {
        self.inner.flavor(name)
    }
    fn flavor_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.inner.flavor_component(name)
    }
    fn insert_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        self.inner.insert_flavor(record, component)
    }
    fn replace_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        self.inner.replace_flavor(record, component)
    }
    fn set_flavor_policy(&self, name: &str, policy: &Policy) -> Result<()> {
        self.inner.set_flavor_policy(name, policy)
    }
    fn remove_flavor(&self, name: &str) -> Result<()> {
        self.inner.remove_flavor(name)
    }

    fn managers(&self) -> Result<Vec<ManagerRecord>> {
        self.inner
            .managers()?
            .into_iter()
            .map(|r| self.opened(r))
            .collect()
    }
    fn manager(&self, name: &str) -> Result<Option<ManagerRecord>> {
        self.opened_opt(self.inner.manager(name)?)
    }
    fn active_manager(&self) -> Result<Option<ManagerRecord>> {
        self.opened_opt(self.inner.active_manager()?)
    }
    fn insert_manager(
        &self,
        name: &str,
        flavor: &str,
        config: &BTreeMap<String, String>,
        limits: &ManagerLimits,
        set_active: bool,
    ) -> Result<()> {
        self.inner.insert_manager(
            name,
            flavor,
            &self.seal_all(name, config),
            limits,
            set_active,
        )
    }
    fn update_manager_config(&self, name: &str, config: &BTreeMap<String, String>) -> Result<()> {
        self.inner
            .update_manager_config(name, &self.seal_all(name, config))
    }
    fn set_active_manager(&self, name: &str) -> Result<()> {
        self.inner.set_active_manager(name)
    }
    fn remove_manager(&self, name: &str, purge: bool) -> Result<()> {
        self.inner.remove_manager(name, purge)
    }

    fn schemas(&self) -> Result<Vec<Schema>> {
        self.inner.schemas()
    }
    fn schema(&self, name: &str) -> Result<Option<Schema>> {
        self.inner.schema(name)
    }
    fn insert_schema(&self, schema: &Schema) -> Result<()> {
        self.inner.insert_schema(schema)
    }
    fn remove_schema(&self, name: &str) -> Result<()> {
        self.inner.remove_schema(name)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta(key)
    }
    fn insert_meta(&self, key: &str, value: &[u8]) -> Result<bool> {
        self.inner.insert_meta(key, value)
    }
    fn delete_meta(&self, key: &str) -> Result<()> {
        self.inner.delete_meta(key)
    }

    fn namespace(&self, id: i64, mode: TxnMode) -> Result<Box<dyn NamespaceTxn>> {
        Ok(Box::new(SealedNamespace {
            inner: self.inner.namespace(id, mode)?,
            key: self.key.clone(),
            namespace: id,
        }))
    }

    fn compiled_checksum(&self, entry: &str) -> Result<Option<String>> {
        self.inner.compiled_checksum(entry)
    }
    fn record_compiled(&self, entry: &str, checksum: &str) -> Result<()> {
        self.inner.record_compiled(entry, checksum)
    }
}

/// A namespace transaction that seals on `set` and opens on `get`.
pub struct SealedNamespace {
    inner: Box<dyn NamespaceTxn>,
    key: MasterKey,
    namespace: i64,
}

impl NamespaceTxn for SealedNamespace {
    fn version(&mut self) -> Result<u64> {
        self.inner.version()
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.inner.set_deadline(deadline);
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let Some(sealed) = self.inner.get(key)? else {
            return Ok(None);
        };
        self.key
            .open(&kv_aad(self.namespace, key), &sealed)
            .map(Some)
            .ok_or_else(|| {
                Error::host(format!(
                    "stored entry `{}` does not open with the master key; it was altered or \
                     moved outside flavorbox",
                    crate::text::clip(key, 80)
                ))
            })
    }

    fn value_len(&mut self, key: &str) -> Result<Option<u64>> {
        Ok(self
            .inner
            .value_len(key)?
            .map(|len| len.saturating_sub(OVERHEAD)))
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let sealed = self.key.seal(&kv_aad(self.namespace, key), value);
        self.inner.set(key, &sealed)
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_keys(prefix)
    }

    fn usage(&mut self) -> Result<Usage> {
        let usage = self.inner.usage()?;
        Ok(Usage {
            keys: usage.keys,
            bytes: usage.bytes.saturating_sub(usage.keys * OVERHEAD),
        })
    }

    fn commit(self: Box<Self>) -> Result<()> {
        self.inner.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteDatabase;

    fn key() -> MasterKey {
        MasterKey::generate(KeySource::Given("test".to_string()))
    }

    fn sealed_store(key: MasterKey) -> (tempfile::TempDir, Arc<SqliteDatabase>, SealedDatabase) {
        let dir = tempfile::tempdir().unwrap();
        let raw = Arc::new(SqliteDatabase::open(&dir.path().join("db")).unwrap());
        let sealed = SealedDatabase::open(raw.clone(), key).unwrap();
        (dir, raw, sealed)
    }

    #[test]
    fn values_round_trip_and_are_ciphertext_below() {
        let (_d, raw, db) = sealed_store(key());
        let mut txn = db.namespace(1, TxnMode::Write).unwrap();
        txn.set("secrets/a", b"hunter2-plain").unwrap();
        txn.commit().unwrap();
        let mut txn = db.namespace(1, TxnMode::Read).unwrap();
        assert_eq!(txn.get("secrets/a").unwrap().unwrap(), b"hunter2-plain");
        assert_eq!(txn.value_len("secrets/a").unwrap(), Some(13));
        assert_eq!(
            txn.usage().unwrap(),
            Usage {
                keys: 1,
                bytes: 9 + 13
            }
        );
        let stored = raw
            .namespace(1, TxnMode::Read)
            .unwrap()
            .get("secrets/a")
            .unwrap()
            .unwrap();
        assert!(is_sealed(&stored));
        assert_eq!(stored.len() as u64, 13 + OVERHEAD);
        assert!(!stored.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn a_value_moved_to_another_key_or_namespace_does_not_open() {
        let (_d, raw, db) = sealed_store(key());
        let mut txn = db.namespace(1, TxnMode::Write).unwrap();
        txn.set("a", b"value-a").unwrap();
        txn.commit().unwrap();
        let stored = raw
            .namespace(1, TxnMode::Read)
            .unwrap()
            .get("a")
            .unwrap()
            .unwrap();
        let mut raw_txn = raw.namespace(1, TxnMode::Write).unwrap();
        raw_txn.set("b", &stored).unwrap();
        raw_txn.commit().unwrap();
        let mut raw_txn = raw.namespace(2, TxnMode::Write).unwrap();
        raw_txn.set("a", &stored).unwrap();
        raw_txn.commit().unwrap();
        let err = db
            .namespace(1, TxnMode::Read)
            .unwrap()
            .get("b")
            .unwrap_err();
        assert!(err.to_string().contains("does not open"), "{err}");
        assert!(db.namespace(2, TxnMode::Read).unwrap().get("a").is_err());
    }

    #[test]
    fn config_is_sealed_per_manager_and_key() {
        let (_d, raw, db) = sealed_store(key());
        let config = BTreeMap::from([("token".to_string(), "s3cr3t-token".to_string())]);
        db.insert_manager("m", "local", &config, &ManagerLimits::default(), false)
            .unwrap();
        assert_eq!(db.manager("m").unwrap().unwrap().config, config);
        let stored = raw.manager("m").unwrap().unwrap().config;
        assert!(stored["token"].starts_with(CONFIG_PREFIX));
        assert!(!stored["token"].contains("s3cr3t"));
    }

    #[test]
    fn another_key_is_refused_by_name() {
        let (dir, _raw, _db) = sealed_store(key());
        let raw = Arc::new(SqliteDatabase::open(&dir.path().join("db")).unwrap());
        let err = SealedDatabase::open(raw, key()).err().unwrap().to_string();
        assert!(err.contains("does not open this store"), "{err}");
    }

    #[test]
    fn keys_decode_from_base64_and_hex_only_at_32_bytes() {
        let k = key();
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
}
