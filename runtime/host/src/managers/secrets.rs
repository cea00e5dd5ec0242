//! The secret operations of one manager: register, get, list, update,
//! rename and delete.
//!
//! Guards against input no flavor should see (names and keys are checked
//! against the contract's rules, key sets against the schema, before the
//! call), an update that loses a key another process set between its read
//! and its write (the write is pinned to the version its read saw and the
//! merge is redone, at most [`MAX_UPDATE_ATTEMPTS`] times), and a rename
//! that leaves two copies when its second half fails (the copy is removed
//! again, or the error says both exist). A delete or rename of a secret
//! that a manager's config refers to is refused unless the caller breaks
//! the reference on purpose (see `references`).
//!
//! On a flavor that keeps history (contract 0.2) a delete is soft unless
//! the caller purges ([`Deletion`]); a soft-deleted name stays taken, and
//! registering it again is refused in words naming `restore` and
//! `--purge`. A rename purges the old name once the copy is written: the
//! secret moved (its current values are version 1 under the new name,
//! the old name's history does not follow), and the old name is free
//! again, so renaming back works.

use super::references::{OnReferences, Referrer};
use super::{Deletion, Manager, SecretUpdate};
use crate::error::{Error, ErrorKind, Result};
use crate::sandbox::exports::{
    DeleteSecret, GetAllSecretKeys, GetMetadata, GetSecret, PurgeSecret, RegisterSecret,
    UpdateSecret,
};
use crate::secret::{Secret, check_input, check_name};

/// How often `update` reads and merges again when another call wrote to
/// the manager's storage between its read and its write.
const MAX_UPDATE_ATTEMPTS: u32 = 20;

impl Manager<'_> {
    /// Creates a secret after checking it against its schema.
    pub fn register_secret(&self, secret: &Secret) -> Result<()> {
        self.managers
            .schemas
            .get(secret.schema())?
            .validate(secret)?;
        self.answer(&RegisterSecret(secret))
            .map_err(|err| self.taken_by_deleted(secret.name(), err))
    }

    /// `err`, the refusal of registering `name`, in words naming `restore`
    /// and `--purge` when the name is taken by a soft-deleted secret.
    pub(super) fn taken_by_deleted(&self, name: &str, err: Error) -> Error {
        if !err.is(ErrorKind::AlreadyExists) || !self.keeps_history() {
            return err;
        }
        match self.answer(&GetMetadata(name)) {
            Ok(metadata) if metadata.deleted => Error::already_exists(format!(
                "secret `{name}` exists in secrets manager `{}`, soft-deleted: bring it back \
                 with `flavorbox secret restore {name}`, or remove it for good with \
                 `flavorbox secret delete {name} --purge` first",
                self.name()
            )),
            _ => err,
        }
    }

    pub fn get_secret(&self, name: &str) -> Result<Secret> {
        check_name("secret name", name)?;
        self.answer(&GetSecret(name))
    }

    /// The names of all secrets, sorted.
    pub fn list_secrets(&self) -> Result<Vec<String>> {
        let mut names = self.answer(&GetAllSecretKeys)?;
        names.sort();
        Ok(names)
    }

    /// Applies `update` to the stored values of `name`: sets its keys,
    /// removes the ones it removes (and switches the schema if it says
    /// so), re-validates, and stores the result.
    pub fn update_secret(&self, name: &str, update: &SecretUpdate) -> Result<Secret> {
        check_name("secret name", name)?;
        // Check the changes on their own first, so a bad key or a repeated
        // key is reported as such and not as a merge artefact.
        check_input(&update.set)?;
        update.require_changes()?;
        if let Some(schema) = &update.schema {
            self.managers.schemas.get(schema)?;
        }
        // Read, merge, write: the write is pinned to the storage version the
        // read saw, so an update another process committed in between is
        // merged again rather than overwritten (the other keys it set would
        // otherwise be lost). Bounded: a manager written to without pause
        // gets the conflict.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (current, version) = self.read_versioned(name)?;
            let updated = self.merged(name, &current, update)?;
            let written = self.write_at_version(&UpdateSecret(&updated), version)?;
            // Stale: the write found the storage at another version than
            // the read (a lock wait or any other failure is not retried).
            let stale = written
                .report
                .storage_version
                .is_some_and(|seen| Some(seen) != version);
            match written.result {
                Err(err)
                    if err.is(ErrorKind::Conflict)
                        && version.is_some()
                        && stale
                        && attempts < MAX_UPDATE_ATTEMPTS =>
                {
                    continue;
                }
                result => {
                    self.naming_manager(result)?;
                    return Ok(updated);
                }
            }
        }
    }

    /// `current` (read as `name`) with `update` applied, checked against
    /// its schema.
    pub(super) fn merged(
        &self,
        name: &str,
        current: &Secret,
        update: &SecretUpdate,
    ) -> Result<Secret> {
        let mut values = current.values().clone();
        for key in &update.remove {
            if update.set.iter().any(|(k, _)| k == key) {
                return Err(Error::invalid(format!(
                    "key `{key}` is both set and removed"
                )));
            }
            if values.remove(key).is_none() {
                return Err(Error::invalid(format!(
                    "secret `{name}` has no key `{key}` to remove"
                )));
            }
        }
        values.extend(update.set.iter().cloned());
        if values.is_empty() {
            return Err(Error::invalid(format!(
                "removing those keys would leave secret `{name}` empty; delete it instead"
            )));
        }
        let schema = update.schema.as_deref().unwrap_or(current.schema());
        let updated = Secret::new(name, schema, values)?;
        self.managers
            .schemas
            .get(updated.schema())?
            .validate(&updated)?;
        Ok(updated)
    }

    /// Renames a secret: registers it under `new`, then deletes `old`. If
    /// the delete fails, the new copy is deleted again, so either the
    /// secret has moved or nothing changed (as far as the flavor's own
    /// operations allow: the contract has no transaction across calls).
    /// Refused (a conflict, nothing changed) while a manager's config
    /// refers to `old`; see [`Manager::rename_secret_breaking`].
    pub fn rename_secret(&self, old: &str, new: &str) -> Result<Secret> {
        self.renamed(old, new, OnReferences::Refuse)
            .map(|(renamed, _)| renamed)
    }

    /// Renames a secret although managers' configs refer to it: the
    /// references are left as they are (pointing at `old`, so broken) and
    /// returned, for the caller to say so.
    pub fn rename_secret_breaking(&self, old: &str, new: &str) -> Result<(Secret, Vec<Referrer>)> {
        self.renamed(old, new, OnReferences::Break)
    }

    fn renamed(&self, old: &str, new: &str, on: OnReferences) -> Result<(Secret, Vec<Referrer>)> {
        check_name("secret name", old)?;
        check_name("secret name", new)?;
        if old == new {
            return Err(Error::invalid(format!(
                "secret `{old}` already has that name"
            )));
        }
        let broken = self.references_allow(Some(old), "renaming it", on)?;
        let current = self.answer(&GetSecret(old))?;
        let renamed = Secret::new(new, current.schema(), current.pairs())?;
        self.answer(&RegisterSecret(&renamed))
            .map_err(|err| self.taken_by_deleted(new, err))?;
        if let Err(err) = self.answer(&PurgeSecret(old)) {
            return Err(match self.answer(&PurgeSecret(new)) {
                Ok(()) => Error::backend(format!(
                    "secret `{old}` could not be deleted ({err}); the copy `{new}` was \
                     removed again, nothing changed"
                )),
                Err(undo) => Error::backend(format!(
                    "secret `{old}` could not be deleted ({err}), and removing the copy \
                     `{new}` failed too ({undo}); both exist now"
                )),
            });
        }
        Ok((renamed, broken))
    }

    /// Deletes a secret as `how` says; refused (a conflict, nothing
    /// deleted) while a manager's config refers to it (a soft delete
    /// breaks a reference as much as a purge: the secret reads as
    /// missing); see [`Manager::delete_secret_breaking`].
    pub fn delete_secret(&self, name: &str, how: Deletion) -> Result<()> {
        self.deleted(name, how, OnReferences::Refuse).map(drop)
    }

    /// Deletes a secret although managers' configs refer to it: the
    /// references it broke are returned, for the caller to say so.
    pub fn delete_secret_breaking(&self, name: &str, how: Deletion) -> Result<Vec<Referrer>> {
        self.deleted(name, how, OnReferences::Break)
    }

    fn deleted(&self, name: &str, how: Deletion, on: OnReferences) -> Result<Vec<Referrer>> {
        check_name("secret name", name)?;
        let broken = self.references_allow(Some(name), "deleting it", on)?;
        match how {
            Deletion::Soft => self.answer(&DeleteSecret(name))?,
            Deletion::Purge => self.answer(&PurgeSecret(name))?,
        }
        Ok(broken)
    }
}
