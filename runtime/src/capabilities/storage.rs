//! The `storage` capability: a secrets manager's private key-value namespace.
//!
//! Guards against a flavor reaching data that is not its own (every key lives
//! in the manager's namespace; there is no path syntax to escape it, and odd
//! keys are refused outright so they cannot confuse anything downstream),
//! filling the disk (a quota in bytes and keys per manager), and leaving
//! half-written data behind (all writes of a call sit in one transaction that
//! the sandbox commits only when the call succeeds).

use super::Findings;
use crate::contract::bindings::WitError;
use crate::contract::bindings::flavorbox::secrets::storage as wit;
use crate::error::Violation;
use crate::policy::Quota;
use crate::store::{NamespaceTxn, Usage};

/// Longest storage key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// The storage a call may use; `txn` is `None` when storage was not granted.
pub struct StorageCapability {
    txn: Option<Box<dyn NamespaceTxn>>,
    quota: Quota,
    /// The namespace's usage, loaded at the first write and kept current.
    usage: Option<Usage>,
    pub findings: Findings,
}

/// Checks a storage key: 1-512 bytes of printable ASCII, no leading `/`, no
/// empty, `.` or `..` segment.
pub fn check_entry_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "storage key must be 1-{MAX_KEY_BYTES} bytes, not {}",
            key.len()
        ));
    }
    if let Some(c) = key.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "storage key contains {c:?}; only printable ASCII without spaces is allowed"
        ));
    }
    if key
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(format!(
            "storage key `{key}` has an empty, `.` or `..` segment"
        ));
    }
    Ok(())
}

impl StorageCapability {
    pub fn new(txn: Option<Box<dyn NamespaceTxn>>, quota: Quota) -> Self {
        StorageCapability {
            txn,
            quota,
            usage: None,
            findings: Findings::default(),
        }
    }

    /// The transaction, to commit once the call has succeeded.
    pub fn into_txn(self) -> Option<Box<dyn NamespaceTxn>> {
        self.txn
    }

    /// The namespace transaction, or `denied` when storage was not granted.
    fn txn(&mut self) -> Result<&mut Box<dyn NamespaceTxn>, WitError> {
        granted(&mut self.txn, &mut self.findings)
    }

    /// Refuses a malformed key, and records the attempt: keys are where a
    /// flavor would try to escape its namespace.
    fn key(&mut self, key: &str) -> Result<(), WitError> {
        check_entry_key(key).map_err(|why| {
            self.findings
                .breach(Violation::Denied, format!("storage refused a key: {why}"));
            WitError::Invalid(why)
        })
    }
}

/// Marks storage as used and hands out the transaction if it was granted.
fn granted<'a>(
    txn: &'a mut Option<Box<dyn NamespaceTxn>>,
    findings: &mut Findings,
) -> Result<&'a mut Box<dyn NamespaceTxn>, WitError> {
    findings.used = true;
    match txn.as_mut() {
        Some(txn) => Ok(txn),
        None => {
            let detail = "the flavor used capability `storage`, which was not granted".to_string();
            findings.breach(Violation::Denied, detail.clone());
            Err(WitError::Denied(detail))
        }
    }
}

fn backend(err: crate::error::Error) -> WitError {
    WitError::Backend(format!("host storage failed: {err}"))
}

fn entry_bytes(key: &str, value_len: u64) -> u64 {
    key.len() as u64 + value_len
}

impl wit::Host for StorageCapability {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, WitError> {
        self.key(&key)?;
        self.txn()?.get(&key).map_err(backend)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), WitError> {
        self.key(&key)?;
        let quota = self.quota;
        let StorageCapability {
            txn,
            usage: known_usage,
            findings,
            ..
        } = self;
        let txn = granted(txn, findings)?;
        let usage = match *known_usage {
            Some(usage) => usage,
            None => txn.usage().map_err(backend)?,
        };
        let old = txn.value_len(&key).map_err(backend)?;
        let keys = usage.keys + u64::from(old.is_none());
        let bytes = usage.bytes - old.map_or(0, |len| entry_bytes(&key, len))
            + entry_bytes(&key, value.len() as u64);
        if keys > quota.keys || bytes > quota.bytes {
            let detail = format!(
                "storage quota exceeded: this write would make {keys} keys and {bytes} bytes \
                 (quota {} keys, {} bytes)",
                quota.keys, quota.bytes
            );
            *known_usage = Some(usage);
            findings.breach(Violation::Quota, detail.clone());
            return Err(WitError::Denied(detail));
        }
        txn.set(&key, &value).map_err(backend)?;
        *known_usage = Some(Usage { keys, bytes });
        Ok(())
    }

    fn delete(&mut self, key: String) -> Result<bool, WitError> {
        self.key(&key)?;
        let txn = self.txn()?;
        let old = txn.value_len(&key).map_err(backend)?;
        let existed = txn.delete(&key).map_err(backend)?;
        if let (Some(usage), Some(len)) = (&mut self.usage, old) {
            usage.keys -= 1;
            usage.bytes -= entry_bytes(&key, len);
        }
        Ok(existed)
    }

    fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, WitError> {
        if prefix.len() > MAX_KEY_BYTES || prefix.chars().any(|c| !c.is_ascii_graphic()) {
            let why = "storage prefix must be at most 512 bytes of printable ASCII".to_string();
            self.findings.breach(
                Violation::Denied,
                format!("storage refused a prefix: {why}"),
            );
            return Err(WitError::Invalid(why));
        }
        self.txn()?.list_keys(&prefix).map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Database, SqliteDatabase, TxnMode};
    use wit::Host as _;

    fn capability(quota: Quota) -> (tempfile::TempDir, SqliteDatabase, StorageCapability) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteDatabase::open(&dir.path().join("db")).unwrap();
        let txn = store.namespace(7, TxnMode::Write).unwrap();
        let cap = StorageCapability::new(Some(txn), quota);
        (dir, store, cap)
    }

    #[test]
    fn refuses_odd_keys() {
        for key in [
            "", "../x", "a/../b", "/abs", "a//b", "nul\0", "sp ace", "ü", "./a", "a/.",
        ] {
            assert!(check_entry_key(key).is_err(), "{key:?}");
        }
        assert!(check_entry_key(&"k".repeat(100 * 1024)).is_err());
        assert!(check_entry_key("secrets/db_creds").is_ok());
        assert!(check_entry_key("default/secrets/x").is_ok());
    }

    #[test]
    fn quota_counts_bytes_and_keys_and_refuses_past_it() {
        let (_d, _s, mut cap) = capability(Quota { bytes: 20, keys: 2 });
        cap.set("a".into(), vec![0; 9]).unwrap(); // 10 bytes
        cap.set("a".into(), vec![0; 4]).unwrap(); // replaced: 5 bytes
        cap.set("b".into(), vec![0; 14]).unwrap(); // 20 bytes
        let err = cap.set("c".into(), vec![]).unwrap_err();
        assert!(matches!(err, WitError::Denied(ref m) if m.contains("quota")));
        assert_eq!(cap.findings.violation.as_ref().unwrap().0, Violation::Quota);
        assert!(cap.delete("b".into()).unwrap());
        cap.set("c".into(), vec![0; 10]).unwrap();
    }

    #[test]
    fn ungranted_storage_is_denied_and_recorded() {
        let mut cap = StorageCapability::new(None, Quota::default());
        let err = cap.get("k".into()).unwrap_err();
        assert!(matches!(err, WitError::Denied(ref m) if m.contains("not granted")));
        assert_eq!(
            cap.findings.violation.as_ref().unwrap().0,
            Violation::Denied
        );
    }
}
