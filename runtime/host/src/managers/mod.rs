//! Secrets managers (configured instances of a flavor) and the secret
//! operations that run through them.
//!
//! This is where user input is judged before any flavor sees it: names and
//! keys against the contract's rules (`wit/0.1/flavor.wit`), values against the
//! size limit, key sets against the schema, configuration against what the
//! flavor declares. What comes back has already been checked by the sandbox
//! (see `contract`).
//!
//! This file is the registry of managers: registering, reconfiguring,
//! choosing the active one and binding one to its flavor. The rest is one
//! concern per file, each saying what it guards against:
//!
//! | file | what it holds |
//! |---|---|
//! | `config.rs` | the checks a manager's config passes before it is stored |
//! | `references.rs` | `{{name.key}}` references in a config, their resolution, and who refers to a secret |
//! | `call.rs` | how one call on a manager is made |
//! | `secrets.rs` | the secret operations: register, get, list, update, rename, delete |
//! | `history.rs` | what a flavor keeping history adds: history, a version, rollback, restore, check-and-set, metadata, labels |
//! | `bulk.rs` | delete-all (one call per secret) |
//! | `import.rs` | import (all or nothing) |
//! | `api.rs` | [`SecretsApi`]: the secret operations as one interface, local or remote |
//! | `changes.rs` | [`ChangeFeed`]: the change version watchers of a manager's secrets follow |

mod api;
mod bulk;
mod call;
mod changes;
mod config;
mod history;
mod import;
mod references;
mod secrets;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::policy::{ManagerLimits, Policy};
use crate::registry::{Flavors, Runnable, Schemas};
use crate::sandbox::LazySandbox;
use crate::secret::check_name;
use crate::store::{Database, ManagerRecord};

pub(crate) use api::exported_names;
pub use api::{Deletion, Feature, SecretSummary, SecretUpdate, SecretsApi};
pub use bulk::BulkBound;
pub use changes::{ChangeFeed, LOCAL_POLL, LocalFeed, MAX_CHANGE_WAIT};
pub use config::MissingGrant;
pub use history::LabelChange;
pub use import::{ImportPlan, ImportReport, OnConflict, Progress};
pub use references::Referrer;

/// The secrets managers of one home.
#[derive(Clone, Copy)]
pub struct Managers<'h> {
    db: &'h Arc<dyn Database>,
    flavors: &'h Flavors,
    schemas: &'h Schemas,
    sandbox: &'h LazySandbox,
}

impl<'h> Managers<'h> {
    pub fn new(
        db: &'h Arc<dyn Database>,
        flavors: &'h Flavors,
        schemas: &'h Schemas,
        sandbox: &'h LazySandbox,
    ) -> Self {
        Managers {
            db,
            flavors,
            schemas,
            sandbox,
        }
    }

    pub fn list(&self) -> Result<Vec<ManagerRecord>> {
        self.db.managers()
    }

    /// Registers a secrets manager on `flavor` with its flavor's limits;
    /// see [`Managers::register_limited`].
    pub fn register(
        &self,
        name: &str,
        flavor: &str,
        config: BTreeMap<String, String>,
        set_active: bool,
    ) -> Result<Option<MissingGrant>> {
        self.register_limited(name, flavor, config, ManagerLimits::default(), set_active)
    }

    /// Registers a secrets manager on `flavor` (a bundled flavor not
    /// registered yet is registered once the config passed, with nothing
    /// granted), checking
    /// `config` against the keys the flavor declares, resolving its
    /// references, and then letting the flavor itself judge it (see
    /// `config.rs`); `limits` override the flavor's. Returns the origin
    /// the flavor needs for this config and is not granted, if it is one
    /// this binary carries and said so.
    pub fn register_limited(
        &self,
        name: &str,
        flavor: &str,
        config: BTreeMap<String, String>,
        limits: ManagerLimits,
        set_active: bool,
    ) -> Result<Option<MissingGrant>> {
        check_name("secrets manager name", name)?;
        limits.check().map_err(Error::invalid)?;
        let entry = self.flavors.get(flavor)?;
        let checked = self.checked_config(name, &entry, config)?;
        let missing = self.flavor_accepts_config(&entry, &checked)?;
        if !entry.registered {
            self.flavors.get_registering(flavor)?;
        }
        self.db
            .insert_manager(name, flavor, &checked.stored, &limits, set_active)?;
        Ok(missing)
    }

    /// Changes a manager's config in place (credential rotation): `set`
    /// values are added or replaced, `unset` keys removed, and the result is
    /// checked as at registration (which may find an origin the new config
    /// needs and the flavor is not granted). Its secrets stay where they
    /// are.
    pub fn update_config(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<(ManagerRecord, Option<MissingGrant>)> {
        let record = self.record(Some(name))?;
        if set.is_empty() && unset.is_empty() {
            return Err(Error::invalid(
                "nothing to update: give --config KEY=VALUE or --unset KEY",
            ));
        }
        let mut config = record.config.clone();
        for key in unset {
            if config.remove(key).is_none() {
                return Err(Error::invalid(format!(
                    "secrets manager `{name}` has no config key `{key}` to unset"
                )));
            }
        }
        config.extend(set);
        let entry = self.flavors.get(&record.flavor)?;
        let checked = self.checked_config(name, &entry, config)?;
        let missing = self.flavor_accepts_config(&entry, &checked)?;
        self.db.update_manager_config(name, &checked.stored)?;
        Ok((self.record(Some(name))?, missing))
    }

    /// The secrets (`manager/name`) in this home that use schema `schema`,
    /// found by reading every secret of every manager; a manager that cannot
    /// be read is an error naming it.
    pub fn schema_users(&self, schema: &str) -> Result<Vec<String>> {
        let mut users = Vec::new();
        for record in self.list()? {
            let manager = self.bind(Some(&record.name))?;
            let cannot = |e: Error| {
                Error::denied(format!(
                    "cannot check secrets manager `{}` for secrets of schema `{schema}`: {e}",
                    record.name
                ))
            };
            for name in manager.list_secrets().map_err(cannot)? {
                if manager.get_secret(&name).map_err(cannot)?.schema() == schema {
                    users.push(format!("{}/{name}", record.name));
                }
            }
        }
        Ok(users)
    }

    pub fn set_active(&self, name: &str) -> Result<()> {
        self.db.set_active_manager(name)
    }

    pub fn remove(&self, name: &str, purge: bool) -> Result<()> {
        self.db.remove_manager(name, purge)
    }

    /// The record of the named manager, or of the active one.
    pub fn record(&self, name: Option<&str>) -> Result<ManagerRecord> {
        match name {
            Some(name) => self.db.manager(name)?.ok_or_else(|| {
                Error::not_found(format!("secrets manager `{name}` does not exist"))
            }),
            None => self.db.active_manager()?.ok_or_else(|| {
                Error::not_found(
                    "no secrets manager is active; run `flavorbox secrets-manager set-active NAME`"
                        .to_string(),
                )
            }),
        }
    }

    /// The named (or active) manager, ready to take calls.
    pub fn bind(&self, name: Option<&str>) -> Result<Manager<'h>> {
        let record = self.record(name)?;
        let runnable = self.flavors.runnable(&record.flavor)?;
        let policy = Policy {
            limits: record.limits.apply(runnable.policy.limits),
            grants: runnable.call_grants(),
        };
        Ok(Manager {
            record,
            runnable,
            policy,
            managers: *self,
        })
    }
}

/// A secrets manager bound to its flavor's compiled component.
pub struct Manager<'h> {
    record: ManagerRecord,
    runnable: Runnable,
    managers: Managers<'h>,
    /// The flavor's policy with this manager's limits applied.
    policy: Policy,
}

impl Manager<'_> {
    pub fn record(&self) -> &ManagerRecord {
        &self.record
    }

    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// Whether its flavor keeps history (speaks contract 0.2 or later):
    /// versions, soft delete, labels.
    pub fn keeps_history(&self) -> bool {
        self.runnable.loaded.contract >= crate::contract::ContractVersion::V0_2
    }

    /// The contract version its flavor speaks.
    pub fn contract(&self) -> crate::contract::ContractVersion {
        self.runnable.loaded.contract
    }

    /// The deadline of each call on this manager.
    pub fn timeout(&self) -> std::time::Duration {
        self.policy.limits.timeout()
    }
}
