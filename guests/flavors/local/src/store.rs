//! The `local` flavor's operations over its storage namespace: which entries
//! each reads and writes, in what order.
//!
//! Layout (names are one `[A-Za-z0-9_.-]` segment, so no key is the prefix of
//! another secret's):
//! - `secrets/<name>`: the record of a live secret (`versions.rs`; or the
//!   0.1 flavor's YAML entry, read as version 1 and rewritten as a record by
//!   the next write that touches the secret);
//! - `deleted/<name>`: the record of a soft-deleted secret, so listing the
//!   live names reads no entry;
//! - `versions/<name>/<number>`: the values of one kept, undestroyed version.
//!
//! A read costs two entries (record, values), a write two sets plus one
//! delete per version trimmed; the 0.1 entry costs one read and is converted
//! on the write after. Versions are entries of the namespace, so they count
//! against its quota like anything else.
//!
//! Guards against: a write that cannot fit the quota leaving anything
//! written (every rule is decided before the first write, a refused write's
//! error ends the call, and the host commits a call's writes only when it
//! returns `ok`); a write that fits the quota refused because of its own
//! order (`Writes::apply` frees before it grows, so no step peaks above the
//! larger of before and after); a soft-deleted name taken by a new secret;
//! values entries outliving their version (trimmed, destroyed and purged
//! versions lose theirs in the same call).

use crate::codec::{self, Stored, Values, ZENML_SCHEMA_NAME};
use crate::versions::{Error, Labels, Metadata, Record, Timestamp, Version, VersionInfo};

const LIVE: &str = "secrets/";
const DELETED: &str = "deleted/";
const VALUES: &str = "versions/";

/// A storage namespace, as the contract's `storage` interface.
pub trait Namespace {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn delete(&mut self, key: &str) -> Result<bool, Error>;
    /// Keys starting with `prefix`, sorted.
    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>, Error>;
}

fn record_key(name: &str, deleted: bool) -> String {
    format!("{}{name}", if deleted { DELETED } else { LIVE })
}

fn values_key(name: &str, version: Version) -> String {
    format!("{VALUES}{name}/{version}")
}

fn missing(name: &str) -> Error {
    Error::NotFound(format!("secret `{name}` does not exist"))
}

/// A secret as read: its record, the record entry's size, and for a 0.1
/// entry the values of version 1, which have no entry of their own yet.
struct Loaded {
    record: Record,
    entry_len: usize,
    legacy_values: Option<Values>,
}

/// The writes of one operation, decided before any is made.
#[derive(Default)]
struct Writes {
    deletes: Vec<String>,
    /// Key, bytes, and the size of the entry it replaces (0 if new).
    sets: Vec<(String, Vec<u8>, usize)>,
}

impl Writes {
    fn set(&mut self, key: String, bytes: Vec<u8>, replaces: usize) {
        self.sets.push((key, bytes, replaces));
    }

    /// Deletes first, then sets from the most shrinking to the most growing:
    /// usage falls, then rises to where it ends, so a write whose end state
    /// fits the quota fits at every step.
    fn apply(mut self, ns: &mut dyn Namespace) -> Result<(), Error> {
        for key in &self.deletes {
            ns.delete(key)?;
        }
        self.sets
            .sort_by_key(|(_, bytes, replaces)| bytes.len() as i64 - *replaces as i64);
        for (key, bytes, _) in &self.sets {
            ns.set(key, bytes)?;
        }
        Ok(())
    }

    /// Stores `loaded`'s record under the key its state names, moving it if
    /// the state changed, and the 0.1 entry's values as version 1 if that
    /// version is still kept.
    fn store(&mut self, name: &str, loaded: Loaded, was_deleted: bool) -> Result<(), Error> {
        let Loaded {
            record,
            entry_len,
            legacy_values,
        } = loaded;
        if let Some(values) = legacy_values
            && record.stored_values().any(|number| number == 1)
        {
            self.set(values_key(name, 1), codec::encode_values(&values)?, 0);
        }
        let replaces = if record.deleted == was_deleted {
            entry_len
        } else {
            self.deletes.push(record_key(name, was_deleted));
            0
        };
        let bytes = codec::encode_record(&record)?;
        self.set(record_key(name, record.deleted), bytes, replaces);
        Ok(())
    }
}

fn load_at(ns: &mut dyn Namespace, name: &str, deleted: bool) -> Result<Option<Loaded>, Error> {
    let Some(bytes) = ns.get(&record_key(name, deleted))? else {
        return Ok(None);
    };
    let entry_len = bytes.len();
    Ok(Some(match codec::decode_record(name, &bytes, deleted)? {
        Stored::Record(record) => Loaded {
            record,
            entry_len,
            legacy_values: None,
        },
        Stored::Legacy { schema, values } => Loaded {
            record: Record::legacy(&schema),
            entry_len,
            legacy_values: Some(values),
        },
    }))
}

/// The live secret, or `not-found`.
fn load_live(ns: &mut dyn Namespace, name: &str) -> Result<Loaded, Error> {
    match load_at(ns, name, false)? {
        Some(loaded) => Ok(loaded),
        None if ns.get(&record_key(name, true))?.is_some() => Err(Error::NotFound(format!(
            "secret `{name}` is deleted (restore it first)"
        ))),
        None => Err(missing(name)),
    }
}

/// The secret, live or soft-deleted, or `not-found`.
fn load_any(ns: &mut dyn Namespace, name: &str) -> Result<Loaded, Error> {
    match load_at(ns, name, false)? {
        Some(loaded) => Ok(loaded),
        None => load_at(ns, name, true)?.ok_or_else(|| missing(name)),
    }
}

fn check_keys(values: &[(String, String)]) -> Result<(), Error> {
    if values.iter().any(|(key, _)| key == ZENML_SCHEMA_NAME) {
        return Err(Error::Invalid(format!(
            "key `{ZENML_SCHEMA_NAME}` is reserved by the local flavor"
        )));
    }
    Ok(())
}

/// Creates a secret as its version 1; `already-exists` if the name is taken, by
/// a soft-deleted secret too.
pub fn register(
    ns: &mut dyn Namespace,
    name: &str,
    schema: &str,
    values: Values,
    labels: Labels,
    now: Timestamp,
) -> Result<(), Error> {
    check_keys(&values.0)?;
    for deleted in [false, true] {
        if ns.get(&record_key(name, deleted))?.is_some() {
            let how = if deleted {
                " (deleted: restore or purge it)"
            } else {
                ""
            };
            return Err(Error::AlreadyExists(format!(
                "secret `{name}` already exists{how}"
            )));
        }
    }
    let record = Record::new(schema, labels, now);
    let mut writes = Writes::default();
    writes.set(values_key(name, 1), codec::encode_values(&values)?, 0);
    writes.set(record_key(name, false), codec::encode_record(&record)?, 0);
    writes.apply(ns)?;
    Ok(())
}

/// One version's values as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Read {
    pub version: Version,
    pub schema: String,
    pub values: Values,
}

/// The current version, or `version`.
pub fn get(ns: &mut dyn Namespace, name: &str, version: Option<Version>) -> Result<Read, Error> {
    let loaded = load_live(ns, name)?;
    let kept = loaded.record.readable(name, version)?;
    let values = match loaded.legacy_values {
        Some(values) => values,
        None => {
            let bytes = ns.get(&values_key(name, kept.number))?.ok_or_else(|| {
                Error::Backend(format!(
                    "stored secret `{name}` is corrupt: the values of version {} are missing",
                    kept.number
                ))
            })?;
            codec::decode_values(name, &bytes)?
        }
    };
    Ok(Read {
        version: kept.number,
        schema: kept.schema.clone(),
        values,
    })
}

/// Stores `values` as the new current version, if the secret is at
/// `expected` (when given); trims the history to `max_versions`.
pub fn update(
    ns: &mut dyn Namespace,
    name: &str,
    schema: &str,
    values: Values,
    expected: Option<Version>,
    now: Timestamp,
    max_versions: usize,
) -> Result<Version, Error> {
    check_keys(&values.0)?;
    let mut loaded = load_live(ns, name)?;
    let written = loaded
        .record
        .add_version(name, schema, expected, now, max_versions)?;
    let mut writes = Writes::default();
    let had_entries = loaded.legacy_values.is_none();
    writes.deletes.extend(
        written
            .dropped_values
            .iter()
            .filter(|_| had_entries)
            .map(|number| values_key(name, *number)),
    );
    writes.set(
        values_key(name, written.number),
        codec::encode_values(&values)?,
        0,
    );
    writes.store(name, loaded, false)?;
    writes.apply(ns)?;
    Ok(written.number)
}

/// The names of the live secrets.
pub fn names(ns: &mut dyn Namespace) -> Result<Vec<String>, Error> {
    Ok(ns
        .list_keys(LIVE)?
        .into_iter()
        .filter_map(|key| key.strip_prefix(LIVE).map(str::to_string))
        .collect())
}

pub fn metadata(ns: &mut dyn Namespace, name: &str) -> Result<Metadata, Error> {
    Ok(load_any(ns, name)?.record.metadata())
}

/// Every secret's name and metadata, the soft-deleted ones too if asked.
pub fn list(
    ns: &mut dyn Namespace,
    include_deleted: bool,
) -> Result<Vec<(String, Metadata)>, Error> {
    let mut listed = Vec::new();
    for deleted in [false, true] {
        if deleted && !include_deleted {
            break;
        }
        let prefix = record_key("", deleted);
        for key in ns.list_keys(&prefix)? {
            let Some(name) = key.strip_prefix(&prefix) else {
                continue;
            };
            // Listed a moment ago in this same call: gone only if corrupt.
            let loaded = load_at(ns, name, deleted)?.ok_or_else(|| missing(name))?;
            listed.push((name.to_string(), loaded.record.metadata()));
        }
    }
    Ok(listed)
}

/// A secret's metadata and kept versions, oldest first.
pub fn history(ns: &mut dyn Namespace, name: &str) -> Result<(Metadata, Vec<VersionInfo>), Error> {
    let record = load_any(ns, name)?.record;
    Ok((record.metadata(), record.list_versions()))
}

/// A soft delete (`purge = false`) or the secret and all its versions gone.
pub fn delete(
    ns: &mut dyn Namespace,
    name: &str,
    purge: bool,
    now: Timestamp,
) -> Result<(), Error> {
    let mut writes = Writes::default();
    if purge {
        // Found by listing, never read: a secret whose entries cannot be
        // read (corrupt, or refused by the host's store as tampered with)
        // can still be purged.
        for deleted in [false, true] {
            let key = record_key(name, deleted);
            if ns.list_keys(&key)?.contains(&key) {
                writes.deletes.push(key);
            }
        }
        if writes.deletes.is_empty() {
            return Err(missing(name));
        }
        writes
            .deletes
            .extend(ns.list_keys(&format!("{VALUES}{name}/"))?);
    } else {
        let mut loaded = load_live(ns, name)?;
        loaded.record.soft_delete(name, now)?;
        writes.store(name, loaded, false)?;
    }
    writes.apply(ns)
}

pub fn restore(ns: &mut dyn Namespace, name: &str, now: Timestamp) -> Result<(), Error> {
    if ns.get(&record_key(name, false))?.is_some() {
        return Err(Error::Invalid(format!("secret `{name}` is not deleted")));
    }
    let mut loaded = load_at(ns, name, true)?.ok_or_else(|| missing(name))?;
    loaded.record.restore(name, now)?;
    let mut writes = Writes::default();
    writes.store(name, loaded, true)?;
    writes.apply(ns)
}

pub fn destroy(
    ns: &mut dyn Namespace,
    name: &str,
    versions: &[Version],
    now: Timestamp,
) -> Result<(), Error> {
    let mut loaded = load_any(ns, name)?;
    let was_deleted = loaded.record.deleted;
    let destroyed = loaded.record.destroy(name, versions, now)?;
    if destroyed.is_empty() {
        return Ok(());
    }
    let mut writes = Writes::default();
    // A 0.1 entry has only version 1, the current one, which is never
    // destroyed: `destroyed` is empty for it.
    for number in destroyed {
        writes.deletes.push(values_key(name, number));
    }
    writes.store(name, loaded, was_deleted)?;
    writes.apply(ns)
}

pub fn set_labels(
    ns: &mut dyn Namespace,
    name: &str,
    labels: Labels,
    now: Timestamp,
) -> Result<(), Error> {
    let mut loaded = load_live(ns, name)?;
    loaded.record.set_labels(name, labels, now)?;
    let mut writes = Writes::default();
    writes.store(name, loaded, false)?;
    writes.apply(ns)
}

/// Every secret gone for good; with `force = false`, `invalid` and nothing.
pub fn delete_all(ns: &mut dyn Namespace, force: bool) -> Result<(), Error> {
    if !force {
        return Err(Error::Invalid(
            "deleting all secrets needs force = true".to_string(),
        ));
    }
    for prefix in [LIVE, DELETED, VALUES] {
        for key in ns.list_keys(prefix)? {
            ns.delete(&key)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
