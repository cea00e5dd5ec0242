//! One manager's namespace as the layers above see it ([`NamespaceTxn`]),
//! over a backend's rows ([`NamespaceRows`]).
//!
//! Guards against the rules of a namespace differing by backend: a
//! transaction that wrote bumps the namespace's version when it commits
//! (what a staged call validates its commit against, see `store::staged`),
//! a prefix listing is exactly the keys that start with the prefix, and on
//! a sealed store every value is sealed before the backend sees it and
//! opened (or refused) on the way back, with lengths and usage counted in
//! plaintext; a value is opened only as set by the write `store::writes`
//! records for its key, so an older value put back is refused. Each is done here once; the backend only runs statements.

use std::sync::Arc;
use std::time::Instant;

use super::backend::NamespaceRows;
use super::key::MasterKey;
use super::sealed::OVERHEAD;
use super::writes::{Opening, WriteRecord};
use super::{ALL_KEYS_END, NamespaceTxn, Usage};
use crate::error::{Error, Result};
use crate::text::clip;

/// A namespace transaction of a [`super::Store`].
pub(super) struct StoreNamespace<N> {
    pub(super) rows: N,
    pub(super) namespace: i64,
    /// The master key, on a sealed store.
    pub(super) seal: Option<Arc<MasterKey>>,
    /// The write that last set each key, on a sealed store.
    pub(super) writes: WriteRecord,
    pub(super) wrote: bool,
}

/// The smallest string greater than every string that starts with `prefix`,
/// for keys of printable ASCII (which the storage capability enforces).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{ALL_KEYS_END}")
}

impl<N: NamespaceRows> NamespaceTxn for StoreNamespace<N> {
    fn version(&mut self) -> Result<u64> {
        self.rows.version()
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.rows.set_deadline(deadline);
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let stored = self.rows.get(key)?;
        let Some(seal) = self.seal.clone() else {
            return Ok(stored);
        };
        let written = self
            .writes
            .written(&mut self.rows, &Opening::with(&seal), key)?;
        match (stored, written) {
            (None, None) => Ok(None),
            (Some(sealed), Some(write)) => seal
                .open_entry(self.namespace, key, write, &sealed)
                .map(Some),
            (Some(_), None) => Err(Error::host(format!(
                "stored entry `{}` was never written there by flavorbox (deleted, then put \
                 back or added outside flavorbox); refused",
                clip(key, 80)
            ))),
            (None, Some(_)) => Err(Error::host(format!(
                "stored entry `{}` was removed outside flavorbox",
                clip(key, 80)
            ))),
        }
    }

    fn value_len(&mut self, key: &str) -> Result<Option<u64>> {
        let len = self.rows.value_len(key)?;
        Ok(match self.seal {
            Some(_) => len.map(|len| len.saturating_sub(OVERHEAD)),
            None => len,
        })
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.wrote = true;
        let Some(seal) = self.seal.clone() else {
            return self.rows.put(key, value);
        };
        let write = self
            .writes
            .record(&mut self.rows, &Opening::with(&seal), key)?;
        self.rows
            .put(key, &seal.seal_entry(self.namespace, key, write, value))
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.wrote = true;
        if let Some(seal) = self.seal.clone() {
            self.writes
                .forget(&mut self.rows, &Opening::with(&seal), key)?;
        }
        self.rows.delete(key)
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>> {
        self.rows.keys_in(prefix, &prefix_end(prefix))
    }

    fn usage(&mut self) -> Result<Usage> {
        let usage = self.rows.usage()?;
        Ok(match self.seal {
            Some(_) => Usage {
                keys: usage.keys,
                bytes: usage.bytes.saturating_sub(usage.keys * OVERHEAD),
            },
            None => usage,
        })
    }

    fn mark_changed(&mut self) {
        self.wrote = true;
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        if self.wrote {
            if let Some(seal) = self.seal.clone() {
                self.writes.save(&mut self.rows, &Opening::with(&seal))?;
            }
            self.rows.bump_version()?;
        }
        self.rows.commit()
    }
}
