//! Rotating the master key: every sealed value re-sealed under a new key.
//!
//! Guards against a rotation that stops midway (a crash, `kill -9`, a lost
//! connection) losing values or leaving them under two keys with no record
//! of which. Before any value is touched, the store's metadata records the
//! rotation ([`META_ROTATION`]: the new key's check value, sealed under the
//! new key), so a store holding values under either key always says so,
//! and names the one key that may finish the job. While that record
//! exists, [`Store::sealed`] refuses to open the store: the rotation is the
//! only thing that runs on it. Values are re-sealed in bounded batches (one
//! write transaction per [`BATCH`] values of a namespace, one per
//! manager's config), each opened with the old key and sealed with the new
//! (bound to the same write), then each namespace's record of writes;
//! a value that already opens with the new key is skipped, so running the
//! rotation again resumes where it stopped. Passes over every value repeat
//! until one re-seals nothing (at most `MAX_PASSES`), and only then does
//! one transaction make the new key's check value the store's and drop the
//! record.
//!
//! Where the new key is kept until then is the caller's (the CLI writes it
//! to a file before it starts, see `store::key::pending_key_file`): losing
//! it midway loses the values already re-sealed. A process that opened the
//! store before the rotation began (a running `serve` node) keeps writing
//! under the old key; stop them first (the closing pass catches what they
//! wrote before it, not after).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::backend::{Backend, NamespaceRows, RecordRows};
use super::key::MasterKey;
pub use super::key::{pending_key_file, promote_pending_key, retired_key_file};
use super::sealed::META_KEY_CHECK;
use super::writes::{Opening, WriteRecord};
use super::{ALL_KEYS_END, Database, Store, TxnMode};
use crate::error::{Error, Result};

/// Metadata key of a rotation in progress: the new key's check value.
pub const META_ROTATION: &str = "key-rotation";
/// Values re-sealed per transaction: bounds how long a batch holds the
/// store's write lock and how much a crash leaves to redo.
pub const BATCH: usize = 256;
/// Passes over every value before a rotation gives up on a store that is
/// still being written under the old key.
const MAX_PASSES: u32 = 3;

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotated {
    /// Namespace values and config values re-sealed by this run (values an
    /// earlier, interrupted run re-sealed are not counted again).
    pub values: u64,
    /// Managers whose values were gone through.
    pub managers: u64,
    /// Whether it resumed a rotation an earlier run began.
    pub resumed: bool,
    /// Whether the store was under the new key already (an earlier run
    /// finished), so nothing was done.
    pub finished_before: bool,
}

/// The one line a store mid-rotation is refused with (by the store, and by
/// a host that sees the rotation's pending key file).
pub fn rotation_in_progress() -> Error {
    Error::conflict(
        "a key rotation is in progress; run `flavorbox key rotate` to finish it \
         (nothing was read or written)",
    )
}

impl<B: Backend> Store<B> {
    /// Re-seals every value of this (unsealed) store, sealed under `old`,
    /// under `new`; begins a rotation or resumes the one to `new` an earlier
    /// run began. A store already under `new` is left as it is.
    pub fn rotate_key(self, old: &MasterKey, new: &MasterKey) -> Result<Rotated> {
        let mut rotated = Rotated::default();
        let raw = Store::unsealed(self.backend);
        let raw = match raw.meta(META_ROTATION)? {
            Some(record) => {
                if !new.opens_check(&record) {
                    return Err(Error::denied(format!(
                        "the key rotation in progress is to another key than the one in {}; \
                         finish it with the key it began with (nothing was written)",
                        new.source
                    )));
                }
                old.verify(&raw.meta(META_KEY_CHECK)?.unwrap_or_default())?;
                rotated.resumed = true;
                raw
            }
            None => {
                if let Some(check) = raw.meta(META_KEY_CHECK)?
                    && new.opens_check(&check)
                {
                    rotated.finished_before = true;
                    return Ok(rotated);
                }
                // Checks the old key and seals what a store from before
                // sealing holds in plain text, so every value is sealed.
                let raw = Store::unsealed(raw.sealed(old.clone())?.backend);
                if !raw.insert_meta(META_ROTATION, &new.check_value())? {
                    // Another run recorded its rotation first.
                    return Err(rotation_in_progress());
                }
                raw
            }
        };
        // A pass that re-sealed nothing shows every value is under the new
        // key: a value a process that opened the store before the rotation
        // began wrote under the old key meanwhile is caught by the next pass.
        let mut passes = 0;
        loop {
            passes += 1;
            let mut resealed = 0;
            rotated.managers = 0;
            for manager in raw.managers()? {
                resealed += reseal_namespace(&raw, manager.id, old, new)?;
                resealed += reseal_config(&raw, &manager.name, old, new)?;
                rotated.managers += 1;
            }
            rotated.values += resealed;
            if resealed == 0 {
                break;
            }
            if passes == MAX_PASSES {
                return Err(Error::conflict(
                    "values are still being written under the old master key while it is \
                     rotated; stop every process using the store (`serve` nodes) and run the \
                     rotation again to finish it",
                ));
            }
        }
        let mut tx = raw.backend.write()?;
        match tx.meta(META_ROTATION)? {
            Some(record) if new.opens_check(&record) => {
                tx.delete_meta(META_KEY_CHECK)?;
                tx.insert_meta(META_KEY_CHECK, &record)?;
                tx.delete_meta(META_ROTATION)?;
                tx.commit()?;
            }
            // Another run of the same rotation finished it meanwhile.
            _ => new.verify(&tx.meta(META_KEY_CHECK)?.unwrap_or_default())?,
        }
        Ok(rotated)
    }
}

/// Re-seals the values of namespace `id` under `new`, [`BATCH`] per
/// transaction, each as set by the write its namespace's record holds for
/// it, then the record's pages; how many values it re-sealed.
fn reseal_namespace<B: Backend>(
    raw: &Store<B>,
    id: i64,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<u64> {
    let opening = Opening {
        current: new,
        retiring: Some(old),
    };
    let keys = raw
        .backend
        .namespace(id, TxnMode::Read)?
        .keys_in("", ALL_KEYS_END)?;
    let mut resealed = 0;
    for batch in keys.chunks(BATCH) {
        let mut rows = raw.backend.namespace(id, TxnMode::Write)?;
        let mut writes = WriteRecord::new(id);
        let mut wrote = false;
        for key in batch {
            let Some(stored) = rows.get(key)? else {
                continue;
            };
            let write = writes.written(&mut rows, &opening, key)?.ok_or_else(|| {
                Error::host(format!(
                    "stored entry `{}` was never written there by flavorbox; the store was \
                     altered outside flavorbox (nothing more was re-sealed)",
                    crate::text::clip(key, 80)
                ))
            })?;
            if new.open_entry(id, key, write, &stored).is_ok() {
                continue;
            }
            let plain = Zeroizing::new(old.open_entry(id, key, write, &stored)?);
            rows.put(key, &new.seal_entry(id, key, write, &plain))?;
            wrote = true;
            resealed += 1;
        }
        if wrote {
            rows.commit()?;
        }
    }
    // The pages last: each opens under either key until then.
    let mut rows = raw.backend.namespace(id, TxnMode::Write)?;
    let mut writes = WriteRecord::new(id);
    writes.load_all(&mut rows, &opening)?;
    if writes.save(&mut rows, &opening)? > 0 {
        rows.commit()?;
    }
    Ok(resealed)
}

/// Re-seals the config values of the manager `name` under `new`, in one
/// transaction; how many it re-sealed.
fn reseal_config<B: Backend>(
    raw: &Store<B>,
    name: &str,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<u64> {
    let mut tx = raw.backend.write()?;
    let Some(row) = tx.manager(name)? else {
        return Ok(0);
    };
    let stored: BTreeMap<String, String> = serde_json::from_str(&row.config)
        .map_err(|e| Error::host(format!("store holds an unreadable record: {e}")))?;
    let mut resealed = 0;
    let mut config = BTreeMap::new();
    for (key, value) in stored {
        let value = if new.open_config(name, &key, &value).is_ok() {
            value
        } else {
            let plain = Zeroizing::new(old.open_config(name, &key, &value)?);
            resealed += 1;
            new.seal_config(name, &key, &plain)
        };
        config.insert(key, value);
    }
    if resealed > 0 {
        let column = serde_json::to_string(&config).map_err(Error::host)?;
        tx.update_manager_config(name, &column)?;
        tx.commit()?;
    }
    Ok(resealed)
}
