//! Each namespace's sealed record of the write that last set each key.
//!
//! Guards against an older value being put back: someone who can write
//! the store's rows (a database administrator, a restored backup of one
//! table, a user with the SQLite file) copies a value's earlier ciphertext
//! over its current one, or re-inserts a value that was deleted. Sealing
//! alone (`store::sealed`) binds a value to its manager and key, so such a
//! value would still open. Here every write transaction on a namespace gets
//! the next write number, every value it sets is sealed with that number in
//! its associated data, and the number is kept in this record; a value is
//! opened only with the number the record holds for its key, so an older
//! value, a deleted one put back, or one the record has never seen is
//! refused, never served.
//!
//! The record is sealed too, or it could be put back with the value. It is
//! a two-level tree kept in the backend's `namespace_writes` pages: page 0
//! (the root) holds the namespace's last write number and, for each of
//! [`BUCKETS`] buckets, the write that last changed it; page `1 + b` holds
//! bucket `b`, the keys hashed into it with their write numbers, sealed
//! with the write that last changed it. A bucket put back from an earlier
//! moment no longer opens under the number its root holds, and a root put
//! back no longer opens the buckets written since. A read costs the root
//! and one bucket; a write re-seals the buckets it touched and the root.
//!
//! What this cannot see: the whole namespace (its values and every page)
//! put back together as it was at one earlier moment is consistent with
//! itself; telling that apart needs state kept outside the store. Keys are
//! hashed into buckets without a key (so a key rotation keeps every
//! bucket): a flavor that crowds its keys into one bucket only makes its
//! own calls slower, within its quota and deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::backend::NamespaceRows;
use super::key::MasterKey;
use crate::error::{Error, Result};

/// Buckets a namespace's keys are hashed into.
pub const BUCKETS: usize = 256;
/// The page of the root.
const ROOT_PAGE: u16 = 0;

/// The keys a record's pages are opened with: pages are sealed with
/// `current`; during a key rotation a page still under `retiring` opens
/// too and is sealed again under `current` when the record is saved.
#[derive(Clone, Copy)]
pub struct Opening<'a> {
    pub current: &'a MasterKey,
    pub retiring: Option<&'a MasterKey>,
}

impl<'a> Opening<'a> {
    pub fn with(current: &'a MasterKey) -> Self {
        Opening {
            current,
            retiring: None,
        }
    }
}

/// The root: the last write number, and the write that last changed each
/// bucket (0: never).
struct Root {
    last_write: u64,
    bucket_writes: Vec<u64>,
}

/// One bucket: its keys and the write that last set each. As read, it is
/// kept as its checked encoding and a read looks its key up there; only a
/// write that changes it parses it into a map (a bucket of a large
/// namespace holds hundreds of keys, and a read wants one).
#[derive(Default)]
struct Bucket {
    /// The encoding read (well-formed), while nothing changed it.
    encoded: Vec<u8>,
    /// Every entry, once this transaction changes the bucket.
    writes: Option<BTreeMap<String, u64>>,
}

/// The entries of a bucket's encoding, in order; `None` where it is not
/// well-formed (and the walk ends).
fn entries(mut bytes: &[u8]) -> impl Iterator<Item = Option<(&str, u64)>> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let entry = (|| {
            let len = usize::from(u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?));
            let key = std::str::from_utf8(bytes.get(2..2 + len)?).ok()?;
            let write = u64::from_be_bytes(bytes.get(2 + len..10 + len)?.try_into().ok()?);
            Some((key, write, 10 + len))
        })();
        match entry {
            Some((key, write, used)) => {
                bytes = &bytes[used..];
                Some(Some((key, write)))
            }
            None => {
                bytes = &[];
                Some(None)
            }
        }
    })
}

/// One namespace's record inside one transaction: pages are read as they
/// are needed and written back by [`WriteRecord::save`].
pub struct WriteRecord {
    namespace: i64,
    root: Option<Root>,
    buckets: HashMap<u8, Bucket>,
    /// Buckets this transaction changed.
    changed: BTreeSet<u8>,
    /// Pages that opened only with the retiring key.
    stale: BTreeSet<u16>,
}

fn bucket_of(key: &str) -> u8 {
    blake3::hash(key.as_bytes()).as_bytes()[0]
}

fn page_of(bucket: u8) -> u16 {
    1 + u16::from(bucket)
}

fn root_aad(namespace: i64) -> Vec<u8> {
    let mut aad = b"flavorbox/writes/root/v1\0".to_vec();
    aad.extend_from_slice(&namespace.to_be_bytes());
    aad
}

fn bucket_aad(namespace: i64, bucket: u8, write: u64) -> Vec<u8> {
    let mut aad = b"flavorbox/writes/bucket/v1\0".to_vec();
    aad.extend_from_slice(&namespace.to_be_bytes());
    aad.push(bucket);
    aad.extend_from_slice(&write.to_be_bytes());
    aad
}

/// The record does not open as it must: named by the key being read or
/// written, when there is one.
fn altered(key: Option<&str>) -> Error {
    let record = "this namespace's record of writes was altered or put back outside flavorbox";
    Error::host(match key {
        Some(key) => format!(
            "stored entry `{}` cannot be vouched for: {record}",
            crate::text::clip(key, 80)
        ),
        None => format!("{record}; nothing was read or written"),
    })
}

impl Root {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * (1 + BUCKETS));
        out.extend_from_slice(&self.last_write.to_be_bytes());
        for write in &self.bucket_writes {
            out.extend_from_slice(&write.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Root> {
        if bytes.len() != 8 * (1 + BUCKETS) {
            return None;
        }
        let mut numbers = bytes
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("chunks of 8")));
        let last_write = numbers.next()?;
        Some(Root {
            last_write,
            bucket_writes: numbers.collect(),
        })
    }
}

impl Bucket {
    fn encode(&self) -> Vec<u8> {
        let Some(writes) = &self.writes else {
            return self.encoded.clone();
        };
        let mut out = Vec::new();
        for (key, write) in writes {
            // Storage keys are bounded far below 64 KiB by the capability.
            let len = u16::try_from(key.len()).expect("storage keys are short");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&write.to_be_bytes());
        }
        out
    }

    /// The bucket encoded as `bytes`, if well-formed.
    fn decode(bytes: Vec<u8>) -> Option<Bucket> {
        if entries(&bytes).any(|entry| entry.is_none()) {
            return None;
        }
        Some(Bucket {
            encoded: bytes,
            writes: None,
        })
    }

    /// The write that last set `key`, if the bucket holds it.
    fn get(&self, key: &str) -> Option<u64> {
        match &self.writes {
            Some(writes) => writes.get(key).copied(),
            None => entries(&self.encoded)
                .flatten()
                .find_map(|(held, write)| (held == key).then_some(write)),
        }
    }

    /// Every entry, to change.
    fn writes_mut(&mut self) -> &mut BTreeMap<String, u64> {
        let encoded = &self.encoded;
        self.writes.get_or_insert_with(|| {
            entries(encoded)
                .flatten()
                .map(|(key, write)| (key.to_owned(), write))
                .collect()
        })
    }
}

impl WriteRecord {
    pub fn new(namespace: i64) -> Self {
        WriteRecord {
            namespace,
            root: None,
            buckets: HashMap::new(),
            changed: BTreeSet::new(),
            stale: BTreeSet::new(),
        }
    }

    /// Whether the namespace has a record at all (a namespace never
    /// written since records began has none).
    pub fn exists(rows: &mut impl NamespaceRows) -> Result<bool> {
        Ok(rows.write_page(ROOT_PAGE)?.is_some())
    }

    /// Opens a page sealed for `aad` with the current key, or the retiring
    /// one (noting the page as stale).
    fn open(&mut self, opening: &Opening, page: u16, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if let Some(plain) = opening.current.open(aad, sealed) {
            return Some(plain);
        }
        let plain = opening.retiring?.open(aad, sealed)?;
        self.stale.insert(page);
        Some(plain)
    }

    fn root(
        &mut self,
        rows: &mut impl NamespaceRows,
        opening: &Opening,
        key: Option<&str>,
    ) -> Result<&mut Root> {
        if self.root.is_none() {
            let root = match rows.write_page(ROOT_PAGE)? {
                None => Root {
                    last_write: 0,
                    bucket_writes: vec![0; BUCKETS],
                },
                Some(sealed) => self
                    .open(opening, ROOT_PAGE, &root_aad(self.namespace), &sealed)
                    .as_deref()
                    .and_then(Root::decode)
                    .ok_or_else(|| altered(key))?,
            };
            self.root = Some(root);
        }
        Ok(self.root.as_mut().expect("loaded above"))
    }

    fn bucket(
        &mut self,
        rows: &mut impl NamespaceRows,
        opening: &Opening,
        bucket: u8,
        key: Option<&str>,
    ) -> Result<&mut Bucket> {
        if !self.buckets.contains_key(&bucket) {
            let write = self.root(rows, opening, key)?.bucket_writes[usize::from(bucket)];
            let loaded = match (rows.write_page(page_of(bucket))?, write) {
                (None, 0) => Bucket::default(),
                (Some(sealed), write) if write > 0 => {
                    let aad = bucket_aad(self.namespace, bucket, write);
                    self.open(opening, page_of(bucket), &aad, &sealed)
                        .and_then(Bucket::decode)
                        .ok_or_else(|| altered(key))?
                }
                _ => return Err(altered(key)),
            };
            self.buckets.insert(bucket, loaded);
        }
        Ok(self.buckets.get_mut(&bucket).expect("loaded above"))
    }

    /// The write that last set `key`; `None` for a key the record does not
    /// hold (never written, or deleted).
    pub fn written(
        &mut self,
        rows: &mut impl NamespaceRows,
        opening: &Opening,
        key: &str,
    ) -> Result<Option<u64>> {
        Ok(self
            .bucket(rows, opening, bucket_of(key), Some(key))?
            .get(key))
    }

    /// The number of this transaction's write: one past the last one.
    pub fn this_write(&mut self, rows: &mut impl NamespaceRows, opening: &Opening) -> Result<u64> {
        Ok(self.root(rows, opening, None)?.last_write + 1)
    }

    /// Records that this transaction's write set `key`.
    pub fn record(
        &mut self,
        rows: &mut impl NamespaceRows,
        opening: &Opening,
        key: &str,
    ) -> Result<u64> {
        let bucket = bucket_of(key);
        self.bucket(rows, opening, bucket, Some(key))?;
        let write = self.this_write(rows, opening)?;
        self.bucket(rows, opening, bucket, Some(key))?
            .writes_mut()
            .insert(key.to_owned(), write);
        self.changed.insert(bucket);
        Ok(write)
    }

    /// Records that `key` was deleted.
    pub fn forget(
        &mut self,
        rows: &mut impl NamespaceRows,
        opening: &Opening,
        key: &str,
    ) -> Result<()> {
        let bucket = bucket_of(key);
        if self
            .bucket(rows, opening, bucket, Some(key))?
            .writes_mut()
            .remove(key)
            .is_some()
        {
            self.changed.insert(bucket);
        }
        Ok(())
    }

    /// Reads every page, so [`WriteRecord::save`] re-seals each one that is
    /// still under the retiring key.
    pub fn load_all(&mut self, rows: &mut impl NamespaceRows, opening: &Opening) -> Result<()> {
        for bucket in 0..=u8::MAX {
            self.bucket(rows, opening, bucket, None)?;
        }
        Ok(())
    }

    /// Writes back what this transaction changed, as the next write, under
    /// the current key, with every stale page it read; how many pages it
    /// wrote.
    pub fn save(&mut self, rows: &mut impl NamespaceRows, opening: &Opening) -> Result<u64> {
        if self.changed.is_empty() && self.stale.is_empty() {
            return Ok(0);
        }
        let namespace = self.namespace;
        let key = opening.current;
        let Some(root) = self.root.as_mut() else {
            return Ok(0);
        };
        if !self.changed.is_empty() {
            root.last_write += 1;
            for bucket in &self.changed {
                root.bucket_writes[usize::from(*bucket)] = root.last_write;
            }
        }
        let mut pages: BTreeSet<u16> = self.changed.iter().map(|b| page_of(*b)).collect();
        pages.extend(self.stale.iter().copied());
        pages.insert(ROOT_PAGE);
        for &page in &pages {
            let sealed = if page == ROOT_PAGE {
                key.seal(&root_aad(namespace), &root.encode())
            } else {
                let bucket = u8::try_from(page - 1).expect("bucket pages follow the root");
                let contents = self.buckets.get(&bucket).map(Bucket::encode);
                let write = root.bucket_writes[usize::from(bucket)];
                key.seal(
                    &bucket_aad(namespace, bucket, write),
                    &contents.unwrap_or_default(),
                )
            };
            rows.put_write_page(page, &sealed)?;
        }
        self.changed.clear();
        self.stale.clear();
        Ok(pages.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip_and_refuse_what_they_did_not_write() {
        let root = Root {
            last_write: 7,
            bucket_writes: (0..BUCKETS as u64).collect(),
        };
        let decoded = Root::decode(&root.encode()).unwrap();
        assert_eq!(decoded.last_write, 7);
        assert_eq!(decoded.bucket_writes, root.bucket_writes);
        assert!(Root::decode(&root.encode()[1..]).is_none());

        let mut bucket = Bucket::default();
        bucket.writes_mut().insert("secrets/db".into(), 3);
        bucket.writes_mut().insert(String::new(), u64::MAX);
        let encoded = bucket.encode();
        let mut decoded = Bucket::decode(encoded.clone()).unwrap();
        assert_eq!(
            (decoded.get("secrets/db"), decoded.get(""), decoded.get("x")),
            (Some(3), Some(u64::MAX), None)
        );
        assert_eq!(
            decoded.encode(),
            encoded,
            "unchanged, it is written back as read"
        );
        assert_eq!(decoded.writes_mut(), bucket.writes_mut());
        assert!(Bucket::decode(encoded[..encoded.len() - 1].to_vec()).is_none());
        assert!(Bucket::decode(Vec::new()).unwrap().get("x").is_none());
    }

    #[test]
    fn a_page_opens_only_for_its_namespace_bucket_and_write() {
        let key = MasterKey::generate(crate::store::sealed::KeySource::Given("test".into()));
        let sealed = key.seal(&bucket_aad(1, 9, 4), b"page");
        assert!(key.open(&bucket_aad(1, 9, 4), &sealed).is_some());
        for other in [
            bucket_aad(2, 9, 4),
            bucket_aad(1, 8, 4),
            bucket_aad(1, 9, 3),
        ] {
            assert!(key.open(&other, &sealed).is_none());
        }
        assert!(key.open(&root_aad(1), &sealed).is_none());
    }
}
