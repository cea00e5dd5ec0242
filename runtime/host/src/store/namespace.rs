//! One manager's namespace as the layers above see it ([`NamespaceTxn`]),
//! over a backend's rows ([`NamespaceRows`]).
//!
//! Guards against the rules of a namespace differing by backend: a
//! transaction that wrote bumps the namespace's version when it commits
//! (what a staged call validates its commit against, see `store::staged`),
//! a prefix listing is exactly the keys that start with the prefix, and on
//! a sealed store every value is sealed before the backend sees it and
//! opened (or refused) on the way back, with lengths and usage counted in
//! plaintext. Each is done here once; the backend only runs statements.

use std::sync::Arc;
use std::time::Instant;

use super::backend::NamespaceRows;
use super::key::MasterKey;
use super::sealed::OVERHEAD;
use super::{NamespaceTxn, Usage};
use crate::error::Result;

/// A namespace transaction of a [`super::Store`].
pub(super) struct StoreNamespace<N> {
    pub(super) rows: N,
    pub(super) namespace: i64,
    /// The master key, on a sealed store.
    pub(super) seal: Option<Arc<MasterKey>>,
    pub(super) wrote: bool,
}

/// The smallest string greater than every string that starts with `prefix`,
/// for keys of printable ASCII (which the storage capability enforces).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{7f}")
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
        match (&self.seal, stored) {
            (Some(seal), Some(sealed)) => seal.open_entry(self.namespace, key, &sealed).map(Some),
            (_, stored) => Ok(stored),
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
        match &self.seal {
            Some(seal) => self
                .rows
                .put(key, &seal.seal_entry(self.namespace, key, value)),
            None => self.rows.put(key, value),
        }
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.wrote = true;
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

    fn commit(mut self: Box<Self>) -> Result<()> {
        if self.wrote {
            self.rows.bump_version()?;
        }
        self.rows.commit()
    }
}
