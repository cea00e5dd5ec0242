//! The secret operations that need a flavor keeping history (contract
//! 0.2): history, reading a version, rollback, restore, check-and-set
//! updates, metadata listings and labels.
//!
//! Guards against history being rewritten (a rollback is a new version
//! holding an older version's values, written only if the secret is still
//! at the version the rollback read: a conflict otherwise, nothing
//! written), a check-and-set update merged onto values other than the
//! version the caller named (the merge reads exactly that version, and the
//! flavor writes only if it is still current), labels the contract forbids
//! reaching a flavor (checked as keys, values at most 256 printable
//! characters), and a 0.1 flavor asked for any of this: the sandbox refuses
//! such a call before the flavor runs, saying the flavor keeps one version.

use super::Manager;
use crate::contract::history::{Labels, SecretHistory, SecretMetadata};
use crate::error::{Error, ErrorKind, Result};
use crate::sandbox::exports::{
    GetCurrentVersion, GetMetadata, GetSecret, GetSecretVersion, ListSecrets, ListVersions,
    RestoreSecret, SetLabels, UpdateSecretIf,
};
use crate::secret::{Secret, check_input, check_name};

use super::{BulkBound, SecretUpdate};
use crate::policy::Capability;

/// Labels to set (added, or their values replaced) and to remove.
#[derive(Clone, Debug, Default)]
pub struct LabelChange {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

impl Manager<'_> {
    /// The metadata and kept versions of `name`, soft-deleted or not.
    pub fn secret_history(&self, name: &str) -> Result<SecretHistory> {
        check_name("secret name", name)?;
        self.answer(&ListVersions(name))
    }

    /// Version `version` of `name`.
    pub fn get_secret_version(&self, name: &str, version: u64) -> Result<Secret> {
        check_name("secret name", name)?;
        if version == 0 {
            return Err(Error::invalid("there is no version 0; versions start at 1"));
        }
        self.answer(&GetSecretVersion { name, version })
            .map_err(|err| self.version_not_found(name, version, err))
    }

    /// `err`, or where it is `not-found` and the secret exists, the error
    /// saying which version is missing (the flavor's own words are
    /// withheld: they may carry values).
    fn version_not_found(&self, name: &str, version: u64, err: Error) -> Error {
        if !err.is(ErrorKind::NotFound) {
            return err;
        }
        match self.secret_metadata(name) {
            Ok(metadata) => Error::not_found(format!(
                "secret `{name}` keeps no version {version} (it is at version {}; `flavorbox \
                 secret history {name}` lists the versions kept)",
                metadata.current_version
            )),
            Err(_) => err,
        }
    }

    /// `err`, or where a check-and-set write found the secret moved on,
    /// the conflict naming the version it is at now.
    fn moved_on(&self, name: &str, expected: u64, err: Error) -> Error {
        if !err.is(ErrorKind::Conflict) {
            return err;
        }
        match self.secret_metadata(name) {
            Ok(metadata) => stale(name, expected, metadata.current_version),
            Err(_) => err,
        }
    }

    /// `name` and, on a flavor keeping history, the number of the version
    /// its values are (read in one call); `None` on a 0.1 flavor.
    pub fn get_secret_versioned(&self, name: &str) -> Result<(Secret, Option<u64>)> {
        check_name("secret name", name)?;
        if !self.keeps_history() {
            return Ok((self.answer(&GetSecret(name))?, None));
        }
        let (secret, version) = self.answer(&GetCurrentVersion(name))?;
        Ok((secret, Some(version)))
    }

    /// The metadata of every live secret, sorted by name. A flavor granted
    /// `http` is asked one secret at a time (as a bulk deletion is driven,
    /// see `bulk.rs`), within [`BulkBound`]'s default calls and time: a
    /// backend that needs a request per secret for its metadata could not
    /// list more secrets than its request cap in one call.
    pub fn list_metadata(&self) -> Result<Vec<SecretMetadata>> {
        let mut listed = if self.policy.grants.allows(Capability::Http) {
            self.metadata_one_by_one()?
        } else {
            self.answer(&ListSecrets {
                include_deleted: false,
            })?
        };
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// The metadata of each live secret, one `get-metadata` call each.
    fn metadata_one_by_one(&self) -> Result<Vec<SecretMetadata>> {
        let bound = BulkBound::default();
        let started = std::time::Instant::now();
        let names = self.list_secrets()?;
        if names.len() > bound.calls {
            return Err(Error::denied(format!(
                "listing the metadata of {} secrets takes a call per secret, more than the {} \
                 one listing may make",
                names.len(),
                bound.calls
            )));
        }
        let mut listed = Vec::with_capacity(names.len());
        for name in &names {
            if started.elapsed() >= bound.time {
                return Err(Error::denied(format!(
                    "listing the metadata of {} secrets ran for its whole {} s",
                    names.len(),
                    bound.time.as_secs()
                )));
            }
            match self.answer(&GetMetadata(name)) {
                // Deleted meanwhile: not listed.
                Err(err) if err.is(ErrorKind::NotFound) => {}
                Ok(metadata) if metadata.deleted => {}
                Ok(metadata) => listed.push(metadata),
                Err(err) => return Err(err),
            }
        }
        Ok(listed)
    }

    /// Makes version `to` of `name` current again as a new version (its
    /// values and schema, checked against the schema as any write is);
    /// returns the version written. `invalid` if `to` is the current one;
    /// a `conflict`, nothing written, if another write came between the
    /// read and this write.
    pub fn rollback_secret(&self, name: &str, to: u64) -> Result<u64> {
        let metadata = self.secret_metadata(name)?;
        if metadata.deleted {
            return Err(Error::invalid(format!(
                "secret `{name}` is soft-deleted: restore it first (`flavorbox secret restore \
                 {name}`)"
            )));
        }
        if metadata.current_version == to {
            return Err(Error::invalid(format!(
                "version {to} is the current version of secret `{name}`: nothing to roll back"
            )));
        }
        let old = self.get_secret_version(name, to)?;
        self.managers.schemas.get(old.schema())?.validate(&old)?;
        self.answer(&UpdateSecretIf {
            secret: &old,
            expected: Some(metadata.current_version),
        })
        .map_err(|err| self.moved_on(name, metadata.current_version, err))
    }

    /// Brings back a soft-deleted secret with its versions and labels.
    pub fn restore_secret(&self, name: &str) -> Result<()> {
        check_name("secret name", name)?;
        self.answer(&RestoreSecret(name))
    }

    /// Applies `update` to version `expected` of `name` and writes the
    /// result only if `expected` is still the current version: else a
    /// `conflict` naming the version it is at, and nothing is written.
    /// Returns the merged secret and the version written.
    pub fn update_secret_if(
        &self,
        name: &str,
        update: &SecretUpdate,
        expected: u64,
    ) -> Result<(Secret, u64)> {
        check_name("secret name", name)?;
        check_input(&update.set)?;
        update.require_changes()?;
        if let Some(schema) = &update.schema {
            self.managers.schemas.get(schema)?;
        }
        let metadata = self.secret_metadata(name)?;
        if metadata.current_version != expected {
            return Err(stale(name, expected, metadata.current_version));
        }
        let current = self.get_secret_version(name, expected)?;
        let updated = self.merged(name, &current, update)?;
        let written = self
            .answer(&UpdateSecretIf {
                secret: &updated,
                expected: Some(expected),
            })
            .map_err(|err| self.moved_on(name, expected, err))?;
        Ok((updated, written))
    }

    /// Sets and removes labels of `name` (the others are kept); returns
    /// the labels it has now. A label removed that it does not have is
    /// `invalid`. (Read, then replace: a label another call set in between
    /// is replaced; labels write no version.)
    pub fn label_secret(&self, name: &str, change: &LabelChange) -> Result<Labels> {
        if change.set.is_empty() && change.remove.is_empty() {
            return Err(Error::invalid(
                "nothing to change: give KEY=VALUE to set a label, KEY- to remove one",
            ));
        }
        let metadata = self.secret_metadata(name)?;
        let mut labels: Vec<(String, String)> = metadata.labels.pairs().clone();
        for key in &change.remove {
            let before = labels.len();
            labels.retain(|(k, _)| k != key);
            if labels.len() == before {
                return Err(Error::invalid(format!(
                    "secret `{name}` has no label `{key}` to remove"
                )));
            }
        }
        for (key, value) in &change.set {
            labels.retain(|(k, _)| k != key);
            labels.push((key.clone(), value.clone()));
        }
        let labels = Labels::new(labels).map_err(Error::invalid)?;
        self.answer(&SetLabels {
            name,
            labels: &labels,
        })?;
        Ok(labels)
    }

    fn secret_metadata(&self, name: &str) -> Result<SecretMetadata> {
        check_name("secret name", name)?;
        self.answer(&GetMetadata(name))
    }
}

/// The conflict of a check-and-set write that found `name` at `at`.
fn stale(name: &str, expected: u64, at: u64) -> Error {
    Error::conflict(format!(
        "secret `{name}` is at version {at}, not {expected}: it changed since that version \
         was read; nothing was written"
    ))
}
