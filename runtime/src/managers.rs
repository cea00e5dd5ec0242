//! Secrets managers (configured instances of a flavor) and the secret
//! operations that run through them.
//!
//! This is where user input is judged before any flavor sees it: names and
//! keys against the contract's rules (`wit/flavor.wit`), values against the
//! size limit, key sets against the schema, configuration against what the
//! flavor declares. What comes back has already been checked by the sandbox
//! (see `contract`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::capabilities::log;
use crate::error::{Error, Result};
use crate::registry::{Flavors, Runnable, Schemas};
use crate::sandbox::exports::{
    DeleteAllSecrets, DeleteSecret, GetAllSecretKeys, GetSecret, RegisterSecret, UpdateSecret,
};
use crate::sandbox::{CallSetup, Export, LazySandbox, Outcome};
use crate::secret::{Secret, check_name};
use crate::store::{Database, ManagerRecord, NamespaceAccess};

/// The secrets managers of one home.
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

    /// Registers a secrets manager on `flavor`, checking `config` against
    /// the keys the flavor declares.
    pub fn register(
        &self,
        name: &str,
        flavor: &str,
        config: BTreeMap<String, String>,
        set_active: bool,
    ) -> Result<()> {
        check_name("secrets manager name", name)?;
        let entry = self.flavors.get(flavor)?;
        let declared = &entry.description.config;
        for key in config.keys() {
            if !declared.iter().any(|f| &f.name == key) {
                let known: Vec<&str> = declared.iter().map(|f| f.name.as_str()).collect();
                return Err(Error::invalid(format!(
                    "flavor `{flavor}` takes no config key `{key}` (it takes: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        if let Some(missing) = declared
            .iter()
            .find(|f| f.required && !config.contains_key(&f.name))
        {
            return Err(Error::invalid(format!(
                "flavor `{flavor}` requires config key `{}` ({})",
                missing.name, missing.description
            )));
        }
        self.db.insert_manager(name, flavor, &config, set_active)
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
            Some(name) => self
                .db
                .manager(name)?
                .ok_or_else(|| Error::NotFound(format!("secrets manager `{name}` does not exist"))),
            None => self.db.active_manager()?.ok_or_else(|| {
                Error::NotFound(
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
        Ok(Manager {
            record,
            runnable,
            db: self.db,
            schemas: self.schemas,
            sandbox: self.sandbox,
        })
    }
}

/// A secrets manager bound to its flavor's compiled component.
pub struct Manager<'h> {
    record: ManagerRecord,
    runnable: Runnable,
    db: &'h Arc<dyn Database>,
    schemas: &'h Schemas,
    sandbox: &'h LazySandbox,
}

impl Manager<'_> {
    pub fn record(&self) -> &ManagerRecord {
        &self.record
    }

    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// The deadline of each call on this manager.
    pub fn timeout(&self) -> std::time::Duration {
        self.runnable.policy.limits.timeout()
    }

    /// Runs one export on this manager's flavor, unchecked by schemas, and
    /// returns the whole outcome (answer, masked output, report). This is
    /// the contract as a flavor sees it (e.g. `update-secret` replaces
    /// values); the conformance suite and `evaluate` use it.
    pub fn call<E: Export>(&self, export: &E) -> Result<Outcome<E::Answer>> {
        let secret_config = self
            .record
            .config
            .iter()
            .filter(|(key, _)| self.runnable.secret_config_keys.contains(*key))
            .map(|(_, value)| value.clone())
            .collect();
        let setup = CallSetup {
            policy: &self.runnable.policy,
            storage: Some(NamespaceAccess::new(self.db.clone(), self.record.id)),
            config: self.record.config.clone(),
            secret_config,
        };
        let outcome = self
            .sandbox
            .get()?
            .call(&self.runnable.loaded, setup, export);
        log::forward(&outcome.logs, outcome.report.secret_bearing);
        Ok(outcome)
    }

    fn answer<E: Export>(&self, export: &E) -> Result<E::Answer> {
        self.call(export)?.result
    }

    /// Creates a secret after checking it against its schema.
    pub fn register_secret(&self, secret: &Secret) -> Result<()> {
        self.schemas.get(secret.schema())?.validate(secret)?;
        self.answer(&RegisterSecret(secret))
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

    /// Merges `changes` into the stored values of `name` (and switches its
    /// schema if asked), re-validates, and stores the result.
    pub fn update_secret(
        &self,
        name: &str,
        changes: Vec<(String, String)>,
        schema: Option<&str>,
    ) -> Result<Secret> {
        check_name("secret name", name)?;
        // Check the changes on their own first, so a bad key or a repeated
        // key is reported as such and not as a merge artefact.
        if !changes.is_empty() {
            Secret::new(name, schema.unwrap_or("arbitrary"), changes.clone())?;
        } else if schema.is_none() {
            return Err(Error::invalid(
                "nothing to update: give KEY=VALUE pairs or --schema",
            ));
        }
        let current = self.answer(&GetSecret(name))?;
        let mut values = current.values().clone();
        values.extend(changes);
        let updated = Secret::new(name, schema.unwrap_or(current.schema()), values)?;
        self.schemas.get(updated.schema())?.validate(&updated)?;
        self.answer(&UpdateSecret(&updated))?;
        Ok(updated)
    }

    pub fn delete_secret(&self, name: &str) -> Result<()> {
        check_name("secret name", name)?;
        self.answer(&DeleteSecret(name))
    }

    pub fn delete_all_secrets(&self, force: bool) -> Result<()> {
        self.answer(&DeleteAllSecrets { force })
    }
}
