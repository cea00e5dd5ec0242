//! The `storage` capability: a secrets manager's private key-value namespace.
//!
//! Guards against a flavor reaching data that is not its own (every key lives
//! in the manager's namespace; there is no path syntax to escape it, and odd
//! keys are refused outright so they cannot confuse anything downstream),
//! filling the disk (a quota in bytes and keys per manager), leaving
//! half-written data behind (writes are staged and committed by the sandbox
//! only when the call succeeds, see `store::staged`), holding host memory
//! (what one call stages is capped) and hiding a failure of the host's
//! store: a store error is never handed to the flavor as an `error` it could
//! swallow and then commit after; it stops the call, which fails and is
//! rolled back.

use super::{Findings, Ungranted};
use crate::contract::FlavorError as WitError;
use crate::error::{Error, Violation};
use crate::policy::{Capability, Quota, caps};
use crate::store::Staged;
use crate::store::staged::StageError;

/// Longest storage key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// The storage a call may use; `staged` is `None` when storage was not
/// granted (or the call has no namespace).
pub struct StorageCapability {
    staged: Option<Staged>,
    quota: Quota,
    pub findings: Findings,
    /// The store failed during the call: the call fails with this error.
    pub host_failure: Option<Error>,
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

/// What a host storage function returns: the outer error stops the call.
type HostResult<T> = wasmtime::Result<Result<T, WitError>>;

impl StorageCapability {
    pub fn new(staged: Option<Staged>, quota: Quota) -> Self {
        StorageCapability {
            staged,
            quota,
            findings: Findings::default(),
            host_failure: None,
        }
    }

    /// The namespace version the call's reads saw, if it read storage and
    /// wrote nothing.
    pub fn version_seen(&self) -> Option<u64> {
        self.staged.as_ref().and_then(Staged::version_seen)
    }

    /// Whether the call staged any write.
    pub fn wrote(&self) -> bool {
        self.staged.as_ref().is_some_and(Staged::wrote)
    }

    /// The staged writes, to commit once the call has succeeded.
    pub fn into_staged(self) -> Option<Staged> {
        self.staged
    }

    /// Refuses a malformed key, and records the attempt: keys are where a
    /// flavor would try to escape its namespace.
    fn key(&mut self, key: &str) -> Result<(), WitError> {
        check_entry_key(key).map_err(|why| {
            self.findings
                .breach_quoting(Violation::Denied, format!("storage refused a key: {why}"));
            WitError::Invalid(why)
        })
    }

    /// The staged namespace, or `denied` when storage was not granted.
    fn staged(&mut self) -> Result<&mut Staged, WitError> {
        self.findings.used = true;
        match self.staged.as_mut() {
            Some(staged) => Ok(staged),
            None => {
                let detail =
                    "the flavor used capability `storage`, which was not granted".to_string();
                self.findings
                    .refuse_ungranted(Ungranted::Capability(Capability::Storage), detail.clone());
                Err(WitError::Denied(detail))
            }
        }
    }

    /// Stops the call on a store failure: the flavor never sees it.
    fn fail(&mut self, err: Error) -> wasmtime::Error {
        let message = format!("host storage failed: {err}");
        self.host_failure.get_or_insert(err);
        wasmtime::Error::msg(message)
    }

    /// Runs `op` on the staged namespace after the key check; a store
    /// failure stops the call.
    fn run<T>(
        &mut self,
        key: &str,
        op: impl FnOnce(&mut Staged) -> crate::error::Result<T>,
    ) -> HostResult<T> {
        if let Err(refused) = self.key(key) {
            return Ok(Err(refused));
        }
        let staged = match self.staged() {
            Ok(staged) => staged,
            Err(denied) => return Ok(Err(denied)),
        };
        match op(staged) {
            Ok(value) => Ok(Ok(value)),
            Err(err) => Err(self.fail(err)),
        }
    }
}

fn entry_bytes(key: &str, value_len: u64) -> u64 {
    key.len() as u64 + value_len
}

/// The `storage` interface, once for every contract version (each
/// version's generated trait delegates here, see `sandbox/imports.rs`).
impl StorageCapability {
    pub fn get(&mut self, key: String) -> HostResult<Option<Vec<u8>>> {
        let got = self.run(&key, |staged| staged.get(&key))?;
        // Even an empty value tells the flavor a key exists: keys it wrote
        // in an earlier call can spell out a value one existence at a time.
        if matches!(&got, Ok(Some(_))) {
            self.findings.read_data = true;
        }
        Ok(got)
    }

    pub fn set(&mut self, key: String, value: Vec<u8>) -> HostResult<()> {
        let quota = self.quota;
        let checked = self.run(&key, |staged| {
            let usage = staged.usage()?;
            let old = staged.value_len(&key)?;
            Ok((usage, old))
        })?;
        let (usage, old) = match checked {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        let keys = usage.keys + u64::from(old.is_none());
        let bytes = usage.bytes - old.map_or(0, |len| entry_bytes(&key, len))
            + entry_bytes(&key, value.len() as u64);
        if keys > quota.keys || bytes > quota.bytes {
            let detail = format!(
                "storage quota exceeded: this write would make {keys} keys and {bytes} bytes \
                 (quota {} keys, {} bytes)",
                quota.keys, quota.bytes
            );
            self.findings.breach(Violation::Quota, detail.clone());
            return Ok(Err(WitError::Denied(detail)));
        }
        let staged = self.staged.as_mut().expect("checked above");
        match staged.set(&key, value) {
            Ok(()) => Ok(Ok(())),
            Err(StageError::TooMuch(total)) => {
                let detail = format!(
                    "one call staged {total} bytes of storage writes, more than the {} a call \
                     may hold until its commit",
                    caps::STAGED_BYTES
                );
                self.findings.breach(Violation::Limit, detail.clone());
                Err(wasmtime::Error::msg(detail))
            }
            Err(StageError::Store(err)) => Err(self.fail(err)),
        }
    }

    pub fn delete(&mut self, key: String) -> HostResult<bool> {
        if let Err(refused) = self.key(&key) {
            return Ok(Err(refused));
        }
        let staged = match self.staged() {
            Ok(staged) => staged,
            Err(denied) => return Ok(Err(denied)),
        };
        match staged.delete(&key) {
            Ok(existed) => {
                if existed {
                    self.findings.read_data = true;
                }
                Ok(Ok(existed))
            }
            Err(StageError::TooMuch(total)) => {
                let detail = format!(
                    "one call staged {total} bytes of storage writes, more than the {} a call \
                     may hold until its commit",
                    caps::STAGED_BYTES
                );
                self.findings.breach(Violation::Limit, detail.clone());
                Err(wasmtime::Error::msg(detail))
            }
            Err(StageError::Store(err)) => Err(self.fail(err)),
        }
    }

    pub fn list_keys(&mut self, prefix: String) -> HostResult<Vec<String>> {
        if prefix.len() > MAX_KEY_BYTES || prefix.chars().any(|c| !c.is_ascii_graphic()) {
            let why = "storage prefix must be at most 512 bytes of printable ASCII".to_string();
            self.findings.breach(
                Violation::Denied,
                format!("storage refused a prefix: {why}"),
            );
            return Ok(Err(WitError::Invalid(why)));
        }
        let staged = match self.staged() {
            Ok(staged) => staged,
            Err(denied) => return Ok(Err(denied)),
        };
        match staged.list_keys(&prefix) {
            Ok(keys) => {
                if !keys.is_empty() {
                    self.findings.read_data = true;
                }
                Ok(Ok(keys))
            }
            Err(err) => Err(self.fail(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sealed::KeySource;
    use crate::store::{Database, MasterKey, NamespaceAccess, SqliteDatabase};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn capability(quota: Quota) -> (tempfile::TempDir, Arc<dyn Database>, StorageCapability) {
        let dir = tempfile::tempdir().unwrap();
        let db: Arc<dyn Database> = Arc::new(SqliteDatabase::open(&dir.path().join("db")).unwrap());
        let staged =
            NamespaceAccess::new(db.clone(), 7).stage(Instant::now() + Duration::from_secs(5));
        let cap = StorageCapability::new(Some(staged), quota);
        (dir, db, cap)
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
        cap.set("a".into(), vec![0; 9]).unwrap().unwrap(); // 10 bytes
        cap.set("a".into(), vec![0; 4]).unwrap().unwrap(); // replaced: 5 bytes
        cap.set("b".into(), vec![0; 14]).unwrap().unwrap(); // 20 bytes
        let err = cap.set("c".into(), vec![]).unwrap().unwrap_err();
        assert!(matches!(err, WitError::Denied(ref m) if m.contains("quota")));
        assert_eq!(cap.findings.violation.as_ref().unwrap().0, Violation::Quota);
        assert!(cap.delete("b".into()).unwrap().unwrap());
        cap.set("c".into(), vec![0; 10]).unwrap().unwrap();
    }

    #[test]
    fn ungranted_storage_is_denied_and_recorded() {
        let mut cap = StorageCapability::new(None, Quota::default());
        let err = cap.get("k".into()).unwrap().unwrap_err();
        assert!(matches!(err, WitError::Denied(ref m) if m.contains("not granted")));
        assert_eq!(
            cap.findings.violation.as_ref().unwrap().0,
            Violation::Denied
        );
    }

    #[test]
    fn a_store_failure_stops_the_call_instead_of_reaching_the_flavor() {
        // A store that fails under the call: a sealed store holding an
        // entry that does not open with its key (what a store altered
        // outside flavorbox holds).
        let dir = tempfile::tempdir().unwrap();
        let raw = SqliteDatabase::open(&dir.path().join("db")).unwrap();
        let mut txn = raw.namespace(7, crate::store::TxnMode::Write).unwrap();
        txn.set("secrets/x", b"not sealed").unwrap();
        txn.commit().unwrap();
        let key = MasterKey::generate(KeySource::Given("test".to_string()));
        let sealed: Arc<dyn Database> = Arc::new(raw.sealed(key).unwrap());
        let staged = NamespaceAccess::new(sealed, 7).stage(Instant::now() + Duration::from_secs(5));
        let mut cap = StorageCapability::new(Some(staged), Quota::default());
        let trap = cap.get("secrets/x".into());
        assert!(trap.is_err(), "the flavor got {trap:?}");
        assert!(cap.host_failure.is_some());
    }

    #[test]
    fn reading_stored_data_is_noted() {
        let (_d, _s, mut cap) = capability(Quota::default());
        assert_eq!(cap.get("k".into()).unwrap().unwrap(), None);
        assert!(!cap.findings.read_data, "nothing was read");
        cap.set("k".into(), b"v".to_vec()).unwrap().unwrap();
        cap.get("k".into()).unwrap().unwrap();
        assert!(cap.findings.read_data);
    }
}
