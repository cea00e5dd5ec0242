//! [`SecretsApi`]: the secret operations of one secrets manager as a single
//! interface, whether the manager runs here ([`Manager`]) or behind a
//! `flavorbox serve` node (`serve::client::Remote`), so a front end (the
//! CLI's `secret` commands) is written once for both.
//!
//! Guards against the two sides drifting apart: both take the same input,
//! answer with the same library types and errors, and an option one side
//! lacks ([`Feature`]) is refused by that side, through
//! [`SecretsApi::require`], before any input for it is read or any request
//! is made.

use serde::{Deserialize, Serialize};

use super::Manager;
use super::bulk::BulkBound;
use super::history::LabelChange;
use super::import::{ImportPlan, ImportReport, Progress};
use super::references::Referrer;
use crate::contract::history::{Labels, SecretHistory, SecretMetadata};
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::secret::Secret;

/// A part of the secret operations that not every side offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Choosing how far a `delete-all` may go ([`BulkBound`]); a server
    /// applies its own bound.
    BulkBound,
}

/// How a secret is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deletion {
    /// Where the flavor keeps history (contract 0.2): hidden, its versions
    /// and labels kept, until `restore` brings it back or a purge removes
    /// it; the name stays taken meanwhile. On a 0.1 flavor: final.
    #[default]
    Soft,
    /// Gone for good, with every version and label (soft-deleted or not).
    Purge,
}

/// What an update changes in a secret.
#[derive(Clone, Default)]
pub struct SecretUpdate {
    /// Keys to set: added, or their values replaced.
    pub set: Vec<(String, String)>,
    /// Keys to remove.
    pub remove: Vec<String>,
    /// The schema to switch the secret to.
    pub schema: Option<String>,
}

impl SecretUpdate {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty() && self.schema.is_none()
    }

    /// `invalid` if it changes nothing, in the words both sides use.
    pub fn require_changes(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::invalid(
                "nothing to update: give KEY=VALUE pairs, --remove-key or --schema",
            ));
        }
        Ok(())
    }
}

/// A secret as a write left it: its name, schema and keys, never a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSummary {
    pub name: String,
    pub schema: String,
    pub keys: Vec<String>,
}

impl SecretSummary {
    pub fn of(secret: &Secret) -> SecretSummary {
        SecretSummary {
            name: secret.name().to_string(),
            schema: secret.schema().to_string(),
            keys: secret.keys().map(str::to_string).collect(),
        }
    }
}

/// The secret operations of one secrets manager.
pub trait SecretsApi {
    /// The secrets manager the operations go to.
    fn manager_name(&self) -> &str;

    /// `Ok` if this side offers `feature`; else the error that says so.
    fn require(&self, feature: Feature) -> Result<()>;

    /// The schema `name`, whose keys a prompt asks for.
    fn schema(&self, name: &str) -> Result<Schema>;

    /// Creates a secret after checking it against its schema.
    fn register_secret(&self, secret: &Secret) -> Result<()>;

    fn get_secret(&self, name: &str) -> Result<Secret>;

    /// The names of all secrets, sorted.
    fn list_secrets(&self) -> Result<Vec<String>>;

    /// Applies `update` to secret `name`, re-validated against its schema.
    fn update_secret(&self, name: &str, update: &SecretUpdate) -> Result<SecretSummary>;

    /// Renames a secret; refused while a manager's config refers to it.
    fn rename_secret(&self, old: &str, new: &str) -> Result<SecretSummary>;

    /// Renames a secret although managers' configs refer to it, leaving
    /// those references broken; returns them.
    fn rename_secret_breaking(
        &self,
        old: &str,
        new: &str,
    ) -> Result<(SecretSummary, Vec<Referrer>)>;

    /// Deletes a secret as `how` says; refused while a manager's config
    /// refers to it.
    fn delete_secret(&self, name: &str, how: Deletion) -> Result<()>;

    /// Deletes a secret as `how` says although managers' configs refer to
    /// it; returns the references it broke.
    fn delete_secret_breaking(&self, name: &str, how: Deletion) -> Result<Vec<Referrer>>;

    /// Deletes every secret (the caller has made sure this is meant) within
    /// `bound` where the deletion is driven one secret at a time; how many,
    /// when they were counted. A bound other than the default needs
    /// [`Feature::BulkBound`].
    fn delete_all_secrets(&self, bound: BulkBound, progress: Progress<'_>)
    -> Result<Option<usize>>;

    /// The secrets `names` with their values, or every secret if `names` is
    /// empty; `progress` is told after each read (a server's, after each
    /// page it answers).
    fn export_secrets(&self, names: &[String], progress: Progress<'_>) -> Result<Vec<Secret>>;

    /// Registers every secret of `secrets` as `plan` says, all or nothing
    /// (on a server, in one request: its progress is shown from the start
    /// and filled when the server answers).
    fn import_secrets(
        &self,
        secrets: &[Secret],
        plan: ImportPlan,
        progress: Progress<'_>,
    ) -> Result<ImportReport>;

    /// Whether the manager's flavor keeps history (speaks contract 0.2):
    /// what the operations below need.
    fn keeps_history(&self) -> Result<bool>;

    /// The operations below need a flavor keeping history (contract 0.2):
    /// on a 0.1 flavor each is refused, `invalid`, saying its secrets have
    /// one version, before the flavor runs.
    ///
    /// The metadata of `name` and the versions kept, oldest first,
    /// soft-deleted or not.
    fn secret_history(&self, name: &str) -> Result<SecretHistory>;

    /// Version `version` of `name`.
    fn get_secret_version(&self, name: &str, version: u64) -> Result<Secret>;

    /// `name` and the number of the version its values are (`None` on a
    /// 0.1 flavor, where it is not refused).
    fn get_secret_versioned(&self, name: &str) -> Result<(Secret, Option<u64>)>;

    /// Writes version `to`'s values as a new version, if `name` is still
    /// at the version read meanwhile (else a `conflict`, nothing written);
    /// the version written.
    fn rollback_secret(&self, name: &str, to: u64) -> Result<u64>;

    /// Brings back a soft-deleted secret with its versions and labels.
    fn restore_secret(&self, name: &str) -> Result<()>;

    /// Applies `update` to version `expected` of `name`, written only if
    /// that is still the current version (else a `conflict`, nothing
    /// written); the summary and the version written.
    fn update_secret_if(
        &self,
        name: &str,
        update: &SecretUpdate,
        expected: u64,
    ) -> Result<(SecretSummary, u64)>;

    /// The metadata of every live secret, sorted by name.
    fn list_metadata(&self) -> Result<Vec<SecretMetadata>>;

    /// Sets and removes labels of `name`; the labels it has now.
    fn label_secret(&self, name: &str, change: &LabelChange) -> Result<Labels>;

    /// The feed of this manager's change version, which moves when one of
    /// its secrets changes (see [`super::ChangeFeed`]); it borrows nothing,
    /// so a watcher can follow it on a thread of its own.
    fn change_feed(&self) -> Result<Box<dyn super::ChangeFeed>>;
}

/// The secrets an export of `names` reads: those, or every secret (as
/// `list` names them) when none are given.
pub(crate) fn exported_names(
    names: &[String],
    list: impl FnOnce() -> Result<Vec<String>>,
) -> Result<std::borrow::Cow<'_, [String]>> {
    Ok(if names.is_empty() {
        std::borrow::Cow::Owned(list()?)
    } else {
        std::borrow::Cow::Borrowed(names)
    })
}

/// A manager of this home offers every operation.
impl SecretsApi for Manager<'_> {
    fn manager_name(&self) -> &str {
        self.name()
    }

    fn change_feed(&self) -> Result<Box<dyn super::ChangeFeed>> {
        Ok(Box::new(Manager::change_feed(self)))
    }

    fn require(&self, _: Feature) -> Result<()> {
        Ok(())
    }

    fn keeps_history(&self) -> Result<bool> {
        Ok(Manager::keeps_history(self))
    }

    fn secret_history(&self, name: &str) -> Result<SecretHistory> {
        Manager::secret_history(self, name)
    }

    fn get_secret_version(&self, name: &str, version: u64) -> Result<Secret> {
        Manager::get_secret_version(self, name, version)
    }

    fn get_secret_versioned(&self, name: &str) -> Result<(Secret, Option<u64>)> {
        Manager::get_secret_versioned(self, name)
    }

    fn rollback_secret(&self, name: &str, to: u64) -> Result<u64> {
        Manager::rollback_secret(self, name, to)
    }

    fn restore_secret(&self, name: &str) -> Result<()> {
        Manager::restore_secret(self, name)
    }

    fn update_secret_if(
        &self,
        name: &str,
        update: &SecretUpdate,
        expected: u64,
    ) -> Result<(SecretSummary, u64)> {
        Manager::update_secret_if(self, name, update, expected)
            .map(|(updated, version)| (SecretSummary::of(&updated), version))
    }

    fn list_metadata(&self) -> Result<Vec<SecretMetadata>> {
        Manager::list_metadata(self)
    }

    fn label_secret(&self, name: &str, change: &LabelChange) -> Result<Labels> {
        Manager::label_secret(self, name, change)
    }

    fn schema(&self, name: &str) -> Result<Schema> {
        self.managers.schemas.get(name)
    }

    fn register_secret(&self, secret: &Secret) -> Result<()> {
        Manager::register_secret(self, secret)
    }

    fn get_secret(&self, name: &str) -> Result<Secret> {
        Manager::get_secret(self, name)
    }

    fn list_secrets(&self) -> Result<Vec<String>> {
        Manager::list_secrets(self)
    }

    fn update_secret(&self, name: &str, update: &SecretUpdate) -> Result<SecretSummary> {
        Manager::update_secret(self, name, update).map(|updated| SecretSummary::of(&updated))
    }

    fn rename_secret(&self, old: &str, new: &str) -> Result<SecretSummary> {
        Manager::rename_secret(self, old, new).map(|renamed| SecretSummary::of(&renamed))
    }

    fn rename_secret_breaking(
        &self,
        old: &str,
        new: &str,
    ) -> Result<(SecretSummary, Vec<Referrer>)> {
        Manager::rename_secret_breaking(self, old, new)
            .map(|(renamed, broken)| (SecretSummary::of(&renamed), broken))
    }

    fn delete_secret(&self, name: &str, how: Deletion) -> Result<()> {
        Manager::delete_secret(self, name, how)
    }

    fn delete_secret_breaking(&self, name: &str, how: Deletion) -> Result<Vec<Referrer>> {
        Manager::delete_secret_breaking(self, name, how)
    }

    fn delete_all_secrets(
        &self,
        bound: BulkBound,
        progress: Progress<'_>,
    ) -> Result<Option<usize>> {
        Manager::delete_all_secrets(self, bound, progress)
    }

    fn export_secrets(&self, names: &[String], progress: Progress<'_>) -> Result<Vec<Secret>> {
        let names = exported_names(names, || Manager::list_secrets(self))?;
        names
            .iter()
            .enumerate()
            .map(|(done, name)| {
                let secret = Manager::get_secret(self, name);
                progress(done + 1, names.len());
                secret
            })
            .collect()
    }

    fn import_secrets(
        &self,
        secrets: &[Secret],
        plan: ImportPlan,
        progress: Progress<'_>,
    ) -> Result<ImportReport> {
        self.register_all(secrets, plan, progress)
    }
}
