//! Encryption at rest, above every backend.
//!
//! Guards against someone who gets a copy of the store (a backup, a stolen
//! disk, a database dump) reading secrets from it: every value in a
//! manager's storage namespace and every secrets-manager config value is
//! sealed with XChaCha20-Poly1305 under a 32-byte master key that is kept
//! apart from the store (a key file in the home, or a key its host passes
//! in: the CLI reads `FLAVORBOX_MASTER_KEY`; see `store::key`). Each sealed
//! value has its own random nonce, and its associated data binds it to
//! where it lives (the manager's id and the storage key, or the manager's
//! name and the config key), so a value copied to another key or another
//! namespace does not open: it is refused, never served.
//!
//! Sealing is part of the [`Store`] above the backends: a sealed store
//! seals config values before they are encoded into a manager's row and
//! namespace values before they reach the backend's namespace (see
//! `store::rules` and `store::namespace`), and opens them on the way back.
//! No backend knows of it; flavors see plaintext. A store whose key is
//! missing or different is refused with one line that says so (a sealed
//! check value in the store's metadata tells a wrong key from a damaged
//! value), never answered with garbage. Quotas count plaintext: lengths and
//! usage are reported without the sealing overhead, so a flavor's quota
//! means what it says.
//!
//! A value is also bound to the write that set it: its associated data
//! holds the write's number, which `store::writes` records per key, so an
//! older value of the same key put back does not open either.
//!
//! Stores from before sealing (layout 3 or older) or before writes were
//! recorded (layout 9 or older) are converted in place by the first open
//! that has a key: layout steps 4 and 10 mark such a store `unsealed` or
//! `unrecorded`, and [`Store::sealed`] re-seals every value as set by a
//! first recorded write (a namespace at a time, skipping those done, so an
//! interrupted conversion resumes) before clearing the marks.
//!
//! A store whose key is being rotated (`store::rotate`) holds values under
//! two keys; while its rotation record exists, [`Store::sealed`] refuses
//! it with one line naming `flavorbox key rotate`, the one thing that may
//! run on it then.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use zeroize::Zeroizing;

use super::backend::{Backend, NamespaceRows};
pub use super::key::{KeySource, MasterKey, OVERHEAD, is_sealed, load_key_file};
use super::rotate::{META_ROTATION, rotation_in_progress};
use super::writes::{Opening, WriteRecord};
use super::{ALL_KEYS_END, Database, Store, TxnMode};
use crate::error::{Error, Result};

/// Prefix of a sealed config value (text, as config is stored as text).
const CONFIG_PREFIX: &str = "sealed:v1:";

/// Metadata key of the sealed check value that tells a wrong key.
pub const META_KEY_CHECK: &str = "key-check";
/// Metadata key marking a store whose values are not all sealed yet
/// (written by layout step 4 on a store that held data).
pub const META_UNSEALED: &str = "unsealed";
/// Metadata key marking a store whose values were sealed before writes
/// were recorded (written by layout step 10 on a store that held values).
pub const META_UNRECORDED: &str = "unrecorded";
const KEY_CHECK_PLAINTEXT: &[u8] = b"flavorbox master key check";
const KEY_CHECK_AAD: &[u8] = b"flavorbox/key-check/v1";

/// Where the master key of a store being opened comes from.
pub enum Sealing {
    /// Passed in by the host.
    Key(MasterKey),
    /// A key file beside the store (see [`load_key_file`]): created with a
    /// new store, never re-created for a sealed one.
    KeyFile(PathBuf),
}

/// Where a value lives and the write that set it (see `store::writes`).
fn entry_aad(namespace: i64, key: &str, write: u64) -> Vec<u8> {
    let mut aad = b"flavorbox/kv/v2\0".to_vec();
    aad.extend_from_slice(&namespace.to_be_bytes());
    aad.extend_from_slice(&write.to_be_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// Where a value lives, as values were sealed before writes were recorded
/// (layout 9 or older); read only to re-seal them.
fn legacy_entry_aad(namespace: i64, key: &str) -> Vec<u8> {
    let mut aad = b"flavorbox/kv/v1\0".to_vec();
    aad.extend_from_slice(&namespace.to_be_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad
}

fn config_aad(manager: &str, key: &str) -> Vec<u8> {
    format!("flavorbox/config/v1\0{manager}\0{key}").into_bytes()
}

impl MasterKey {
    /// Seals the value of `key` in the namespace `namespace`, set by the
    /// write numbered `write`.
    pub(super) fn seal_entry(
        &self,
        namespace: i64,
        key: &str,
        write: u64,
        value: &[u8],
    ) -> Vec<u8> {
        self.seal(&entry_aad(namespace, key, write), value)
    }

    /// Opens what [`MasterKey::seal_entry`] sealed for this very place and
    /// write: a value moved from elsewhere, or an older one put back, does
    /// not open.
    pub(super) fn open_entry(
        &self,
        namespace: i64,
        key: &str,
        write: u64,
        sealed: &[u8],
    ) -> Result<Vec<u8>> {
        self.open(&entry_aad(namespace, key, write), sealed)
            .ok_or_else(|| {
                Error::host(format!(
                    "stored entry `{}` is not the value last written there with the master key; \
                     it was altered, moved or put back outside flavorbox",
                    crate::text::clip(key, 80)
                ))
            })
    }

    /// Opens a value sealed before writes were recorded.
    fn open_legacy_entry(&self, namespace: i64, key: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.open(&legacy_entry_aad(namespace, key), sealed)
    }

    /// Seals the config value of `key` of the manager `manager`.
    pub(super) fn seal_config(&self, manager: &str, key: &str, value: &str) -> String {
        let sealed = self.seal(&config_aad(manager, key), value.as_bytes());
        format!("{CONFIG_PREFIX}{}", BASE64.encode(sealed))
    }

    /// Opens what [`MasterKey::seal_config`] sealed for this very place.
    pub(super) fn open_config(&self, manager: &str, key: &str, value: &str) -> Result<String> {
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
            .open(&config_aad(manager, key), &sealed)
            .ok_or_else(unreadable)?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }

    /// A check value of this key, for the store's metadata.
    pub(super) fn check_value(&self) -> Vec<u8> {
        self.seal(KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT)
    }

    /// Whether `check` is a check value of this key.
    pub(super) fn opens_check(&self, check: &[u8]) -> bool {
        self.open(KEY_CHECK_AAD, check).as_deref() == Some(KEY_CHECK_PLAINTEXT)
    }

    /// Refuses a key the store's check value `check` is not of.
    pub(super) fn verify(&self, check: &[u8]) -> Result<()> {
        if self.opens_check(check) {
            return Ok(());
        }
        Err(Error::host(format!(
            "the master key from {} does not open this store (it was sealed with another \
             key); nothing was read or written",
            self.source
        )))
    }
}

impl<B: Backend> Store<B> {
    /// This store, sealing what it stores under `key` from now on. Checks
    /// `key` against the store (recording a check value in a store that
    /// has none) and seals whatever an older flavorbox left in plain text.
    pub fn sealed(self, key: MasterKey) -> Result<Store<B>> {
        let raw = Store {
            backend: self.backend,
            seal: None,
        };
        if raw.meta(META_ROTATION)?.is_some() {
            return Err(rotation_in_progress());
        }
        match raw.meta(META_KEY_CHECK)? {
            Some(check) => key.verify(&check)?,
            None => {
                let check = key.check_value();
                if !raw.insert_meta(META_KEY_CHECK, &check)? {
                    // Another process recorded its check first.
                    key.verify(&raw.meta(META_KEY_CHECK)?.unwrap_or_default())?;
                }
            }
        }
        let unsealed = raw.meta(META_UNSEALED)?.is_some();
        if unsealed || raw.meta(META_UNRECORDED)?.is_some() {
            convert_legacy(&raw, &key, unsealed)?;
        }
        Ok(Store {
            backend: raw.backend,
            seal: Some(Arc::new(key)),
        })
    }

    /// This store sealed under the key `sealing` names.
    pub(super) fn sealed_by(self, sealing: Sealing) -> Result<Store<B>> {
        let key = match sealing {
            Sealing::Key(key) => key,
            Sealing::KeyFile(path) => load_key_file(&path, self.meta(META_KEY_CHECK)?.is_some())?,
        };
        self.sealed(key)
    }
}

/// Brings the values of a store from before writes were recorded (marked
/// `unrecorded` by layout step 10), or from before sealing (marked
/// `unsealed` by step 4), under the current rules, through the unsealed
/// store `raw`: each namespace in one transaction, every value re-sealed
/// as set by its first recorded write. A namespace that has a record, and
/// a config value that opens, were done by an earlier, interrupted run; a
/// value of an `unsealed` store
/// that does not open was stored in plain text.
fn convert_legacy<B: Backend>(raw: &Store<B>, key: &MasterKey, unsealed: bool) -> Result<()> {
    let opening = Opening::with(key);
    for record in raw.managers()? {
        // The namespace's transaction ends (committed, or rolled back when
        // there was nothing to do) before the config is written.
        let mut rows = raw.backend.namespace(record.id, TxnMode::Write)?;
        if WriteRecord::exists(&mut rows)? {
            drop(rows);
        } else {
            let mut writes = WriteRecord::new(record.id);
            for entry in rows.keys_in("", ALL_KEYS_END)? {
                let Some(stored) = rows.get(&entry)? else {
                    continue;
                };
                let plain = match key.open_legacy_entry(record.id, &entry, &stored) {
                    Some(plain) => Zeroizing::new(plain),
                    None if unsealed => Zeroizing::new(stored),
                    None => {
                        return Err(Error::host(format!(
                            "stored entry `{}` does not open with the master key; it was \
                             altered or moved outside flavorbox",
                            crate::text::clip(&entry, 80)
                        )));
                    }
                };
                let write = writes.record(&mut rows, &opening, &entry)?;
                rows.put(&entry, &key.seal_entry(record.id, &entry, write, &plain))?;
            }
            writes.save(&mut rows, &opening)?;
            rows.commit()?;
        }
        if unsealed {
            let config: BTreeMap<String, String> = record
                .config
                .iter()
                .map(|(k, v)| {
                    let sealed = match key.open_config(&record.name, k, v) {
                        Ok(_) => v.clone(),
                        Err(_) => key.seal_config(&record.name, k, v),
                    };
                    (k.clone(), sealed)
                })
                .collect();
            raw.update_manager_config(&record.name, &config)?;
        }
    }
    raw.delete_meta(META_UNSEALED)?;
    raw.delete_meta(META_UNRECORDED)
}
