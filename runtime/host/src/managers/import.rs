//! Importing a set of secrets into one manager, all or nothing.
//!
//! Guards against a partial or surprising import: every secret is checked
//! against its schema and the input rules, every name the manager already
//! holds is found (and named, all of them), and for the built-in `local`
//! flavor the storage the import needs is held against the manager's quota,
//! all before the first write; `dry_run` stops there. A name already taken
//! is refused (the default), skipped, or overwritten, as the caller's
//! [`ImportPlan`] says. If a write fails midway, what the import created is
//! deleted again and what it overwrote is put back, and the error says how
//! much of that worked.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Manager;
use crate::error::{Error, Result};
use crate::policy::Capability;
use crate::registry::LOCAL;
use crate::sandbox::exports::{DeleteSecret, RegisterSecret};
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

/// The least storage the built-in `local` flavor takes for `secret`: one
/// entry, `secrets/NAME`, holding each key and its base64 value.
fn local_storage(secret: &Secret) -> u64 {
    let values: usize = secret
        .values()
        .iter()
        .map(|(k, v)| k.len() + v.len().div_ceil(3) * 4)
        .sum();
    ("secrets/".len() + secret.name().len() + values) as u64
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
        let existing: BTreeSet<String> = self.list_secrets()?.into_iter().collect();
        let taken: Vec<&str> = secrets
            .iter()
            .map(Secret::name)
            .filter(|name| existing.contains(*name))
            .collect();
        if !taken.is_empty() && plan.on_conflict == OnConflict::Refuse {
            return Err(Error::already_exists(format!(
                "{} of the {} secrets exist already in secrets manager `{}`: {}; nothing was \
                 imported (skip them with --skip-existing, or replace them with --overwrite)",
                taken.len(),
                secrets.len(),
                self.name(),
                named(&taken)
            )));
        }
        let mut report = ImportReport::default();
        let mut writes: Vec<&Secret> = Vec::new();
        for secret in secrets {
            let name = secret.name().to_string();
            match (existing.contains(&name), plan.on_conflict) {
                (false, _) => report.created.push(name),
                (true, OnConflict::Skip) => {
                    report.skipped.push(name);
                    continue;
                }
                (true, _) => report.overwritten.push(name),
            }
            writes.push(secret);
        }
        self.check_room(&writes, &report.overwritten)?;
        if plan.dry_run {
            return Ok(report);
        }
        // What is overwritten is read first, to be put back on failure.
        let previous: Vec<Secret> = report
            .overwritten
            .iter()
            .map(|name| self.get_secret(name))
            .collect::<Result<_>>()?;
        let mut done: Vec<&Secret> = Vec::new();
        for secret in &writes {
            let overwrites = existing.contains(secret.name());
            let written = if overwrites {
                self.answer(&DeleteSecret(secret.name()))
                    .and_then(|()| self.answer(&RegisterSecret(secret)))
            } else {
                self.answer(&RegisterSecret(secret))
            };
            if let Err(err) = written {
                return Err(self.undo(secret.name(), err, &done, &previous, &existing));
            }
            done.push(secret);
            progress(done.len(), writes.len());
        }
        Ok(report)
    }

    /// Refuses an import that cannot fit the built-in `local` flavor's
    /// storage quota, before anything is written (another flavor's use of
    /// storage is its own; a quota it reaches midway is undone like any
    /// failure).
    fn check_room(&self, writes: &[&Secret], overwritten: &[String]) -> Result<()> {
        if self.record.flavor != LOCAL
            || !self.policy.grants.allows(Capability::Storage)
            || writes.is_empty()
        {
            return Ok(());
        }
        let usage = self
            .managers
            .db
            .namespace(self.record.id, crate::store::TxnMode::Read)?
            .usage()?;
        let quota = self.policy.limits.storage;
        let new_keys = (writes.len() - overwritten.len()) as u64;
        let least_bytes: u64 = writes.iter().map(|s| local_storage(s)).sum();
        if usage.keys + new_keys > quota.keys || usage.bytes + least_bytes > quota.bytes {
            return Err(Error::denied(format!(
                "importing {} secret{} into secrets manager `{}` needs at least {new_keys} more \
                 storage key{} and {least_bytes} bytes; it holds {} of {} keys and {} of {} \
                 bytes; nothing was imported",
                writes.len(),
                if writes.len() == 1 { "" } else { "s" },
                self.name(),
                if new_keys == 1 { "" } else { "s" },
                usage.keys,
                quota.keys,
                usage.bytes,
                quota.bytes
            )));
        }
        Ok(())
    }

    /// Undoes an import that failed writing `failed` with `err`: deletes
    /// what it created and puts back what it overwrote; the error says how
    /// that went.
    fn undo(
        &self,
        failed: &str,
        err: Error,
        done: &[&Secret],
        previous: &[Secret],
        existing: &BTreeSet<String>,
    ) -> Error {
        let mut undone = 0;
        let mut left = Vec::new();
        // The secret that failed may be half-written (deleted, not yet
        // registered again), so it is restored too.
        let failed_overwrite = previous.iter().find(|p| p.name() == failed);
        let touched = done
            .iter()
            .map(|s| s.name())
            .chain(failed_overwrite.map(Secret::name));
        for name in touched {
            let restored = match previous.iter().find(|p| p.name() == name) {
                Some(old) => {
                    let _ = self.answer(&DeleteSecret(name));
                    self.answer(&RegisterSecret(old))
                }
                None if existing.contains(name) => Ok(()),
                None => self.answer(&DeleteSecret(name)),
            };
            match restored {
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
}
