//! An in-memory storage namespace for the unit tests, behaving as the host's
//! `storage` capability does where the rules depend on it: a quota in keys
//! and bytes (key plus value bytes) checked on every `set` against the usage
//! so far, `denied` past it; sorted prefix listings; and a call's writes kept
//! only if the call returns `ok` (`call`), as the host commits them.
//!
//! Guards against the tests passing on a namespace kinder than the host's:
//! an order of writes that peaks past the quota fails here as it would there.

use std::collections::BTreeMap;

use crate::store::Namespace;
use crate::versions::Error;

#[derive(Clone, Default)]
pub struct Memory {
    pub entries: BTreeMap<String, Vec<u8>>,
    /// Keys and bytes this namespace may hold; unlimited when `None`.
    pub quota: Option<(usize, usize)>,
    /// Entries read and written since the last `reset_counts`.
    pub gets: usize,
    pub sets: usize,
}

impl Memory {
    pub fn usage(&self) -> (usize, usize) {
        let bytes = self.entries.iter().map(|(k, v)| k.len() + v.len()).sum();
        (self.entries.len(), bytes)
    }

    pub fn reset_counts(&mut self) {
        self.gets = 0;
        self.sets = 0;
    }

    /// Runs one flavor call: its writes stay only if it returns `ok`.
    pub fn call<T>(
        &mut self,
        op: impl FnOnce(&mut dyn Namespace) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut staged = self.clone();
        let result = op(&mut staged);
        if result.is_ok() {
            *self = staged;
        } else {
            self.gets = staged.gets;
            self.sets = staged.sets;
        }
        result
    }
}

impl Namespace for Memory {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.gets += 1;
        Ok(self.entries.get(key).cloned())
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), Error> {
        if let Some((max_keys, max_bytes)) = self.quota {
            let (mut keys, mut bytes) = self.usage();
            match self.entries.get(key) {
                Some(old) => bytes -= key.len() + old.len(),
                None => keys += 1,
            }
            bytes += key.len() + value.len();
            if keys > max_keys || bytes > max_bytes {
                return Err(Error::Denied(format!(
                    "storage quota exceeded: this write would make {keys} keys and {bytes} bytes"
                )));
            }
        }
        self.sets += 1;
        self.entries.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool, Error> {
        Ok(self.entries.remove(key).is_some())
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .entries
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect())
    }
}
