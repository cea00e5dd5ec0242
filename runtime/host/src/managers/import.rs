//! Importing a set of secrets into one manager, all or nothing.
//!
//! Guards against a partial or surprising import: every secret is checked
//! against its schema and the input rules, every name the manager already
//! holds is found (and named, all of them), and for the built-in `local`
//! flavor the storage the import needs is held against the manager's quota,
//! all before the first write; `dry_run` stops there. A name already taken
//! is refused (the default), skipped, or overwritten, as the caller's
//! [`ImportPlan`] says; a name a soft-deleted secret holds is taken too.
//! If a write fails midway, what the import created is purged again and
//! what it overwrote is put back, and the error says how much of that
//! worked.
//!
//! On a flavor that keeps history (contract 0.2) an overwrite is an
//! update: the imported values are a new version, the earlier ones stay
//! in the history (a soft-deleted secret is restored first), and putting
//! one back is another update with the values it had (history is never
//! rewritten), followed by the soft delete again where it was deleted. On
//! a 0.1 flavor an overwrite deletes and registers, and putting back does
//! the same with the old values.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Manager;
use crate::error::{Error, Result};
use crate::policy::Capability;
use crate::registry::LOCAL;
use crate::sandbox::exports::{
    DeleteSecret, GetSecret, ListSecrets, PurgeSecret, RegisterSecret, RestoreSecret, UpdateSecret,
};
use crate::secret::{Secret, check_input};

/// What an import does with a secret whose name the manager holds already
/// (in the API: `"refuse"`, `"skip"`, `"overwrite"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Nothing is imported; every taken name is named.
    #[default]
    Refuse,
    /// The secrets whose names are taken are left as they are.
    Skip,
    /// The secrets whose names are taken are replaced (put back if the
    /// import fails).
    Overwrite,
}

/// How an import goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportPlan {
    pub on_conflict: OnConflict,
    /// Check everything, write nothing.
    pub dry_run: bool,
}

/// What an import did (or, dry, would do), by secret name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub overwritten: Vec<String>,
    pub skipped: Vec<String>,
}

/// Told after each secret written: how many of how many.
pub type Progress<'a> = &'a dyn Fn(usize, usize);

/// Taken names a refusal spells out before counting the rest.
const NAMES_SHOWN: usize = 50;

fn named(names: &[&str]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| format!("`{}`", crate::text::clip(n, 80)))
        .collect();
    if names.len() > NAMES_SHOWN {
        shown.push(format!("and {} more", names.len() - NAMES_SHOWN));
    }
    shown.join(", ")
}

/// The least storage the built-in `local` flavor takes for a new secret:
/// two entries, its record `secrets/NAME` (a header of 2 bytes and more)
/// and the values of version 1, `versions/NAME/1` (a header of 2 bytes and
/// each key and value raw, with their lengths); a key's bytes count too.
/// An overwrite writes a new version but may trim an older one, so it is
/// counted as needing nothing: the estimate stays a lower bound.
const LOCAL_KEYS_PER_SECRET: u64 = 2;

fn local_storage(secret: &Secret) -> u64 {
    const HEADER: usize = 2;
    let values: usize = secret.values().iter().map(|(k, v)| k.len() + v.len()).sum();
    let record = "secrets/".len() + secret.name().len() + HEADER;
    let version_1 = "versions/".len() + secret.name().len() + "/1".len() + HEADER + values;
    (record + version_1) as u64
}

/// Where a name an import writes stood before it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Before {
    Free,
    Live,
    SoftDeleted,
}

impl Manager<'_> {
    /// Imports `secrets` as `plan` says, telling `progress` after each
    /// write (see the module comment).
    pub fn register_all(
        &self,
        secrets: &[Secret],
        plan: ImportPlan,
        progress: Progress<'_>,
    ) -> Result<ImportReport> {
        let mut names = BTreeSet::new();
        for secret in secrets {
            if !names.insert(secret.name()) {
                return Err(Error::invalid(format!(
                    "secret `{}` is given more than once",
                    secret.name()
                )));
            }
            let schema = self
                .managers
                .schemas
                .get(secret.schema())
                .map_err(|e| Error::invalid(format!("secret `{}`: {e}", secret.name())))?;
            schema
                .validate(secret)
                .map_err(|e| Error::invalid(format!("secret `{}`: {e}", secret.name())))?;
            check_input(&secret.pairs())
                .map_err(|e| Error::invalid(format!("secret `{}`: {e}", secret.name())))?;
        }
        let (live, soft_deleted) = self.taken_names()?;
        let before = |name: &str| {
            if live.contains(name) {
                Before::Live
            } else if soft_deleted.contains(name) {
                Before::SoftDeleted
            } else {
                Before::Free
            }
        };
        let taken: Vec<&str> = secrets
            .iter()
            .map(Secret::name)
            .filter(|name| before(name) != Before::Free)
            .collect();
        if !taken.is_empty() && plan.on_conflict == OnConflict::Refuse {
            let deleted = taken.iter().filter(|n| soft_deleted.contains(**n)).count();
            return Err(Error::already_exists(format!(
                "{} of the {} secrets exist already in secrets manager `{}`{}: {}; nothing was \
                 imported (skip them with --skip-existing, or replace them with --overwrite)",
                taken.len(),
                secrets.len(),
                self.name(),
                match deleted {
                    0 => String::new(),
                    n => format!(" ({n} of them soft-deleted)"),
                },
                named(&taken)
            )));
        }
        let mut report = ImportReport::default();
        let mut writes: Vec<(&Secret, Before)> = Vec::new();
        for secret in secrets {
            let name = secret.name().to_string();
            let was = before(&name);
            match (was, plan.on_conflict) {
                (Before::Free, _) => report.created.push(name),
                (_, OnConflict::Skip) => {
                    report.skipped.push(name);
                    continue;
                }
                _ => report.overwritten.push(name),
            }
            writes.push((secret, was));
        }
        self.check_room(&writes)?;
        if plan.dry_run {
            return Ok(report);
        }
        let mut done: Vec<Written> = Vec::new();
        for (secret, was) in &writes {
            let mut written = Written {
                name: secret.name(),
                was: *was,
                previous: None,
                restored: false,
            };
            let outcome = self.write_one(secret, &mut written);
            // A registration that failed wrote nothing; an overwrite that
            // failed may be half done, so it is put back too.
            if outcome.is_ok() || *was != Before::Free {
                done.push(written);
            }
            if let Err(err) = outcome {
                return Err(self.undo(secret.name(), err, &done));
            }
            progress(done.len(), writes.len());
        }
        Ok(report)
    }

    /// The names this manager holds: live, and soft-deleted (none on a
    /// flavor that keeps no history).
    fn taken_names(&self) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        if !self.keeps_history() {
            return Ok((self.list_secrets()?.into_iter().collect(), BTreeSet::new()));
        }
        let (mut live, mut deleted) = (BTreeSet::new(), BTreeSet::new());
        for metadata in self.answer(&ListSecrets {
            include_deleted: true,
        })? {
            if metadata.deleted {
                deleted.insert(metadata.name);
            } else {
                live.insert(metadata.name);
            }
        }
        Ok((live, deleted))
    }

    /// Writes `secret` as where it stood (`written.was`) asks, noting in
    /// `written` what an undo needs: the values it replaced, whether it
    /// restored a soft-deleted secret.
    fn write_one(&self, secret: &Secret, written: &mut Written<'_>) -> Result<()> {
        let name = secret.name();
        if written.was == Before::Free {
            return self.answer(&RegisterSecret(secret));
        }
        if written.was == Before::SoftDeleted {
            self.answer(&RestoreSecret(name))?;
            written.restored = true;
        }
        written.previous = Some(self.answer(&GetSecret(name))?);
        if self.keeps_history() {
            self.answer(&UpdateSecret(secret))
        } else {
            self.answer(&DeleteSecret(name))
                .and_then(|()| self.answer(&RegisterSecret(secret)))
        }
    }

    /// Refuses an import that cannot fit the built-in `local` flavor's
    /// storage quota, before anything is written (another flavor's use of
    /// storage is its own; a quota it reaches midway is undone like any
    /// failure). Only new secrets are counted (see [`local_storage`]).
    fn check_room(&self, writes: &[(&Secret, Before)]) -> Result<()> {
        let created: Vec<&Secret> = writes
            .iter()
            .filter(|(_, was)| *was == Before::Free)
            .map(|(secret, _)| *secret)
            .collect();
        if self.record.flavor != LOCAL
            || !self.policy.grants.allows(Capability::Storage)
            || created.is_empty()
        {
            return Ok(());
        }
        let usage = self
            .managers
            .db
            .namespace(self.record.id, crate::store::TxnMode::Read)?
            .usage()?;
        let quota = self.policy.limits.storage;
        let new_keys = created.len() as u64 * LOCAL_KEYS_PER_SECRET;
        let least_bytes: u64 = created.iter().map(|s| local_storage(s)).sum();
        if usage.keys + new_keys > quota.keys || usage.bytes + least_bytes > quota.bytes {
            return Err(Error::denied(format!(
                "importing {} secret{} into secrets manager `{}` needs at least {new_keys} more \
                 storage keys and {least_bytes} bytes; it holds {} of {} keys and {} of {} \
                 bytes; nothing was imported",
                writes.len(),
                if writes.len() == 1 { "" } else { "s" },
                self.name(),
                usage.keys,
                quota.keys,
                usage.bytes,
                quota.bytes
            )));
        }
        Ok(())
    }

    /// Undoes an import that failed writing `failed` with `err`: purges
    /// what `done` created and puts back what it overwrote (see the module
    /// comment); the error says how that went.
    fn undo(&self, failed: &str, err: Error, done: &[Written<'_>]) -> Error {
        let mut undone = 0;
        let mut left = Vec::new();
        for written in done {
            let name = written.name;
            let mut put_back = match (&written.previous, written.was) {
                (_, Before::Free) => match self.answer(&PurgeSecret(name)) {
                    Err(e) if e.is(crate::error::ErrorKind::NotFound) => Ok(()),
                    other => other,
                },
                (Some(old), _) if self.keeps_history() => self.put_back_version(old),
                (Some(old), _) => {
                    let _ = self.answer(&DeleteSecret(name));
                    self.answer(&RegisterSecret(old))
                }
                (None, _) => Ok(()),
            };
            if written.restored {
                put_back = put_back.and_then(|()| self.answer(&DeleteSecret(name)));
            }
            match put_back {
                Ok(()) => undone += 1,
                Err(_) => left.push(name),
            }
        }
        Error::backend(format!(
            "importing secret `{failed}` failed ({err}); {undone} secret(s) this import had \
             written were put back as they were{}",
            if left.is_empty() {
                String::new()
            } else {
                format!(", {} could not be: {}", left.len(), named(&left))
            }
        ))
    }

    /// `old`'s values current again, as a new version, unless they are
    /// current already (the overwrite never happened).
    fn put_back_version(&self, old: &Secret) -> Result<()> {
        match self.answer(&GetSecret(old.name())) {
            Ok(current) if current == *old => Ok(()),
            _ => self.answer(&UpdateSecret(old)),
        }
    }
}

/// One secret an import wrote (or began to), with what putting it back
/// needs.
struct Written<'a> {
    name: &'a str,
    was: Before,
    /// The values it had, read before they were overwritten.
    previous: Option<Secret>,
    /// A soft-deleted secret this import restored.
    restored: bool,
}
