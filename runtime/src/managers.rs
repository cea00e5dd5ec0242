//! Secrets managers (configured instances of a flavor) and the secret
//! operations that run through them.
//!
//! This is where user input is judged before any flavor sees it: names and
//! keys against the contract's rules (`wit/flavor.wit`), values against the
//! size limit, key sets against the schema, configuration against what the
//! flavor declares. What comes back has already been checked by the sandbox
//! (see `contract`).
//!
//! Bulk work over an HTTP backend is driven from here, one secret per call:
//! `delete-all-secrets` on a flavor granted `http` is a listing followed by
//! one `delete-secret` call per secret, each with its own request budget and
//! deadline, so deleting 1,000 secrets is as predictable as deleting one,
//! and a failure reports exactly which secrets were and were not deleted
//! (an HTTP backend has no rollback). See docs/flavor-authoring.md.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::capabilities::log;
use crate::error::{Error, Result};
use crate::policy::{Capability, Grants, ManagerLimits, Policy};
use crate::registry::{FlavorEntry, Flavors, Runnable, Schemas};
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

    /// Registers a secrets manager on `flavor` with its flavor's limits;
    /// see [`Managers::register_limited`].
    pub fn register(
        &self,
        name: &str,
        flavor: &str,
        config: BTreeMap<String, String>,
        set_active: bool,
    ) -> Result<()> {
        self.register_limited(name, flavor, config, ManagerLimits::default(), set_active)
    }

    /// Registers a secrets manager on `flavor`, checking `config` against
    /// the keys the flavor declares and then by the flavor itself (see
    /// [`Managers::check_config`]); `limits` override the flavor's.
    pub fn register_limited(
        &self,
        name: &str,
        flavor: &str,
        config: BTreeMap<String, String>,
        limits: ManagerLimits,
        set_active: bool,
    ) -> Result<()> {
        check_name("secrets manager name", name)?;
        limits.check().map_err(Error::Invalid)?;
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
        self.check_config(&entry, &config)?;
        self.db
            .insert_manager(name, flavor, &config, &limits, set_active)
    }

    /// Lets the flavor judge `config` before it is stored, in a call that
    /// can reach nothing: no network, no storage, the flavor's deadline at
    /// most 5 s. The call is `get-all-secret-keys`; a flavor that checks its
    /// configuration first (as the shipped ones do: required keys, URL
    /// syntax, credential files) answers `invalid` and the registration is
    /// refused with its reason. Any other outcome (typically the refused
    /// network) accepts the config: what only the backend can judge is
    /// judged at first use. Flavors that take no config are not called.
    pub fn check_config(
        &self,
        entry: &FlavorEntry,
        config: &BTreeMap<String, String>,
    ) -> Result<()> {
        if entry.description.config.is_empty() {
            return Ok(());
        }
        let flavor = &entry.description.name;
        let runnable = self.flavors.runnable(flavor)?;
        let mut limits = runnable.policy.limits;
        limits.timeout_ms = limits.timeout_ms.min(CONFIG_CHECK_TIMEOUT_MS);
        let policy = Policy {
            limits,
            grants: Grants::default(),
        };
        let secret_keys: Vec<&str> = entry.description.secret_config_keys().collect();
        let setup = CallSetup {
            policy: &policy,
            storage: None,
            config: config.clone(),
            secret_config: config
                .iter()
                .filter(|(key, _)| secret_keys.contains(&key.as_str()))
                .map(|(_, value)| value.clone())
                .collect(),
        };
        let outcome = self
            .sandbox
            .get()?
            .call(&runnable.loaded, setup, &GetAllSecretKeys);
        match outcome.result {
            Err(Error::Invalid(why)) => Err(Error::invalid(format!(
                "flavor `{flavor}` refuses this config: {why}"
            ))),
            _ => Ok(()),
        }
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
        let policy = Policy {
            limits: record.limits.apply(runnable.policy.limits),
            grants: runnable.policy.grants.clone(),
        };
        Ok(Manager {
            record,
            runnable,
            policy,
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
    /// The flavor's policy with this manager's limits applied.
    policy: Policy,
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
        self.policy.limits.timeout()
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
            policy: &self.policy,
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

    /// Deletes every secret. A flavor granted `http` is driven from here
    /// (see the module comment) and the number deleted is returned; any
    /// other flavor gets one `delete-all-secrets` call, which commits its
    /// storage writes all at once or not at all, and `None` is returned.
    pub fn delete_all_secrets(&self, force: bool) -> Result<Option<usize>> {
        if !force || !self.policy.grants.allows(Capability::Http) {
            return self.answer(&DeleteAllSecrets { force }).map(|()| None);
        }
        let names = self.list_secrets()?;
        for (done, name) in names.iter().enumerate() {
            match self.answer(&DeleteSecret(name)) {
                // Deleted meanwhile by someone else: just as gone.
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(err) => return Err(stopped(err, done, &names)),
            }
        }
        Ok(Some(names.len()))
    }
}

/// The longest flavor deadline a config check waits for, in milliseconds.
const CONFIG_CHECK_TIMEOUT_MS: u64 = 5_000;

/// Secret names a report of a stopped bulk deletion spells out.
const NAMES_SHOWN: usize = 5;

/// `err`, which stopped a bulk deletion at `names[done]`, with what was and
/// was not deleted. The kind (and so the exit code) stays `err`'s.
fn stopped(err: Error, done: usize, names: &[String]) -> Error {
    let left = &names[done..];
    let mut shown: Vec<String> = left
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| format!("`{n}`"))
        .collect();
    if left.len() > NAMES_SHOWN {
        shown.push(format!("and {} more", left.len() - NAMES_SHOWN));
    }
    let report = format!(
        "delete-all stopped at secret `{}`: {done} of {} secrets deleted, {} not ({}); \
         deleting it failed with",
        left[0],
        names.len(),
        left.len(),
        shown.join(", ")
    );
    let kind = err.kind();
    let with = |detail: String| format!("{report} {kind}: {detail}");
    match err {
        Error::Invalid(m) => Error::Invalid(with(m)),
        Error::NotFound(m) => Error::NotFound(with(m)),
        Error::AlreadyExists(m) => Error::AlreadyExists(with(m)),
        Error::Denied(m) => Error::Denied(with(m)),
        Error::Backend(m) => Error::Backend(with(m)),
        Error::Sandbox { kind, detail } => Error::Sandbox {
            kind,
            detail: with(detail),
        },
        Error::Verdict(m) => Error::Verdict(with(m)),
        Error::Conflict(m) => Error::Conflict(with(m)),
        Error::Host(m) => Error::Host(with(m)),
    }
}
