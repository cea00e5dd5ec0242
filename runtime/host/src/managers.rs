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
use crate::error::{Error, ErrorKind, Result};
use crate::policy::{Capability, Grants, ManagerLimits, Policy};
use crate::reference::Reference;
use crate::registry::{FlavorEntry, Flavors, Runnable, Schemas};
use crate::sandbox::exports::{
    DeleteAllSecrets, DeleteSecret, GetAllSecretKeys, GetSecret, RegisterSecret, UpdateSecret,
};
use crate::sandbox::{CallSetup, Export, LazySandbox, Outcome};
use crate::secret::{Secret, check_name};
use crate::store::{Database, ManagerRecord, NamespaceAccess};

/// How many managers a chain of config references may pass through.
const MAX_REFERENCE_DEPTH: usize = 4;

/// How often `update` reads and merges again when another call wrote to
/// the manager's storage between its read and its write.
const MAX_UPDATE_ATTEMPTS: u32 = 20;

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
    ) -> Result<()> {
        self.register_limited(name, flavor, config, ManagerLimits::default(), set_active)
    }

    /// Registers a secrets manager on `flavor`, checking `config` against
    /// the keys the flavor declares, resolving its references, and then
    /// letting the flavor itself judge it (see `Managers::check_config`);
    /// `limits` override the flavor's.
    pub fn register_limited(
        &self,
        name: &str,
        flavor: &str,
        config: BTreeMap<String, String>,
        limits: ManagerLimits,
        set_active: bool,
    ) -> Result<()> {
        check_name("secrets manager name", name)?;
        limits.check().map_err(Error::invalid)?;
        let entry = self.flavors.get(flavor)?;
        let checked = self.checked_config(name, &entry, config)?;
        self.check_config(&entry, &checked)?;
        self.db
            .insert_manager(name, flavor, &checked.stored, &limits, set_active)
    }

    /// Checks `config` for a manager `name` on `flavor`: every key is one the
    /// flavor declares, every required key is there, and every reference
    /// (`{{name.key}}`, pinned to the active manager when it names none)
    /// resolves now, through another manager.
    fn checked_config(
        &self,
        name: &str,
        flavor: &FlavorEntry,
        config: BTreeMap<String, String>,
    ) -> Result<CheckedConfig> {
        let flavor_name = &flavor.description.name;
        let declared = &flavor.description.config;
        for key in config.keys() {
            if !declared.iter().any(|f| &f.name == key) {
                let known: Vec<&str> = declared.iter().map(|f| f.name.as_str()).collect();
                return Err(Error::invalid(format!(
                    "flavor `{flavor_name}` takes no config key `{key}` (it takes: {})",
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
                "flavor `{flavor_name}` requires config key `{}` ({})",
                missing.name, missing.description
            )));
        }
        let mut checked = CheckedConfig::default();
        for (key, value) in config {
            let (stored, resolved) = match Reference::parse_whole(&value) {
                None => (value.clone(), value),
                Some(reference) => {
                    let mut reference =
                        reference.map_err(|e| Error::invalid(format!("config `{key}`: {e}")))?;
                    if reference.manager.is_none() {
                        reference = reference.pinned(&self.record(None)?.name);
                    }
                    let target = reference.manager.as_deref().unwrap_or_default();
                    if target == name {
                        return Err(Error::invalid(format!(
                            "config `{key}` refers to {reference}, a secret of secrets manager \
                             `{name}` itself; it needs its config to read it"
                        )));
                    }
                    let resolved = self
                        .bind(Some(target))
                        .map_err(|e| refer_error(&key, &reference, e))?
                        .read_reference(&reference, &mut vec![name.to_string()])
                        .map_err(|e| refer_error(&key, &reference, e))?;
                    (reference.to_string(), resolved)
                }
            };
            checked.stored.insert(key.clone(), stored);
            checked.resolved.insert(key, resolved);
        }
        Ok(checked)
    }

    /// Lets the flavor judge `config` before it is stored, in a call that
    /// can reach nothing: no network, no storage, the flavor's deadline at
    /// most 5 s. The call is `get-all-secret-keys`; a flavor that checks its
    /// configuration first (as the shipped ones do: required keys, URL
    /// syntax, credential files) answers `invalid` and the registration is
    /// refused with its reason. Any other outcome (typically the refused
    /// network) accepts the config: what only the backend can judge is
    /// judged at first use. Flavors that take no config are not called.
    fn check_config(&self, entry: &FlavorEntry, checked: &CheckedConfig) -> Result<()> {
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
        // Mask credentials and every value a reference resolved to.
        let mask = checked
            .resolved
            .iter()
            .filter(|(key, value)| {
                secret_keys.contains(&key.as_str()) || checked.stored.get(*key) != Some(value)
            })
            .map(|(_, value)| value.clone())
            .collect();
        let setup = CallSetup {
            policy: &policy,
            storage: None,
            config: checked.resolved.clone(),
            mask,
        };
        let outcome = self
            .sandbox
            .get()?
            .call(&runnable.loaded, setup, &GetAllSecretKeys);
        match outcome.result {
            Err(err) if err.is(ErrorKind::Invalid) => Err(Error::invalid(format!(
                "flavor `{flavor}` refuses this config: {}",
                err.detail()
            ))),
            _ => Ok(()),
        }
    }

    /// Changes a manager's config in place (credential rotation): `set`
    /// values are added or replaced, `unset` keys removed, and the result is
    /// checked as at registration. Its secrets stay where they are.
    pub fn update_config(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<ManagerRecord> {
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
        self.check_config(&entry, &checked)?;
        self.db.update_manager_config(name, &checked.stored)?;
        self.record(Some(name))
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
            grants: runnable.policy.grants.clone(),
        };
        Ok(Manager {
            record,
            runnable,
            policy,
            managers: *self,
        })
    }
}

/// A manager's config as checked: what is stored (references kept as
/// written) and what its flavor sees (references resolved).
#[derive(Default)]
struct CheckedConfig {
    stored: BTreeMap<String, String>,
    resolved: BTreeMap<String, String>,
}

fn refer_error(key: &str, reference: &Reference, err: Error) -> Error {
    let message = format!(
        "config `{key}` refers to {reference}, which cannot be read: {}",
        err.quoted()
    );
    // Its own kind for bad input, a missing secret or a breach; any other
    // failure means the reference cannot be read now.
    match err.kind() {
        kind @ (ErrorKind::Invalid | ErrorKind::NotFound | ErrorKind::Sandbox(_)) => {
            Error::new(kind, message)
        }
        _ => Error::denied(message),
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

    /// The deadline of each call on this manager.
    pub fn timeout(&self) -> std::time::Duration {
        self.policy.limits.timeout()
    }

    /// Runs one export on this manager's flavor, unchecked by schemas, and
    /// returns the whole outcome (answer, masked output, report). This is
    /// the contract as a flavor sees it (e.g. `update-secret` replaces
    /// values); the conformance suite and `evaluate` use it.
    pub fn call<E: Export>(&self, export: &E) -> Result<Outcome<E::Answer>> {
        self.call_in(export, &mut Vec::new())
    }

    /// [`Manager::call`] inside a chain of config references (`chain` holds
    /// the managers whose config is being resolved).
    fn call_in<E: Export>(
        &self,
        export: &E,
        chain: &mut Vec<String>,
    ) -> Result<Outcome<E::Answer>> {
        self.call_pinned(export, None, chain)
    }

    /// [`Manager::call_in`], its storage reads pinned to `version` if given
    /// (see `NamespaceAccess::pinned_at`).
    fn call_pinned<E: Export>(
        &self,
        export: &E,
        version: Option<u64>,
        chain: &mut Vec<String>,
    ) -> Result<Outcome<E::Answer>> {
        let (config, mask) = self.effective_config(chain)?;
        let storage = NamespaceAccess::new(self.managers.db.clone(), self.record.id);
        let setup = CallSetup {
            policy: &self.policy,
            storage: Some(match version {
                Some(version) => storage.pinned_at(version),
                None => storage,
            }),
            config,
            mask,
        };
        let outcome = self
            .managers
            .sandbox
            .get()?
            .call(&self.runnable.loaded, setup, export);
        log::forward(&outcome.logs, outcome.report.secret_bearing);
        Ok(outcome)
    }

    /// The config a call sees, with references resolved, and the values to
    /// mask in its output (secret config fields and resolved references).
    fn effective_config(
        &self,
        chain: &mut Vec<String>,
    ) -> Result<(BTreeMap<String, String>, Vec<String>)> {
        if self.record.config.is_empty() {
            return Ok((BTreeMap::new(), Vec::new()));
        }
        let mut config = BTreeMap::new();
        let mut mask = Vec::new();
        for (key, value) in &self.record.config {
            let value = match Reference::parse_whole(value) {
                None => value.clone(),
                Some(reference) => {
                    let reference = reference.map_err(|e| {
                        Error::invalid(format!(
                            "config `{key}` of secrets manager `{}`: {e}",
                            self.name()
                        ))
                    })?;
                    let resolved = self.resolve(&reference, chain).map_err(|e| {
                        Error::denied(format!(
                            "config `{key}` of secrets manager `{}` refers to {reference}, which \
                             cannot be read: {}",
                            self.name(),
                            e.quoted()
                        ))
                    })?;
                    mask.push(resolved.clone());
                    resolved
                }
            };
            if self.runnable.secret_config_keys.contains(key) {
                mask.push(value.clone());
            }
            config.insert(key.clone(), value);
        }
        Ok((config, mask))
    }

    /// The value a reference names, read through the manager it names (the
    /// active one if none), refusing cycles.
    fn resolve(&self, reference: &Reference, chain: &mut Vec<String>) -> Result<String> {
        let target = self.managers.bind(reference.manager.as_deref())?;
        chain.push(self.name().to_string());
        let value = if chain.iter().any(|m| m == target.name()) || chain.len() > MAX_REFERENCE_DEPTH
        {
            Err(Error::invalid(format!(
                "config references go round in a cycle or too deep: {} -> {}",
                chain.join(" -> "),
                target.name()
            )))
        } else {
            target.read_reference(reference, chain)
        };
        chain.pop();
        value
    }

    /// The value of `reference`'s key in this manager.
    fn read_reference(&self, reference: &Reference, chain: &mut Vec<String>) -> Result<String> {
        let secret = self.answer_in(&GetSecret(&reference.secret), chain)?;
        secret.values().get(&reference.key).cloned().ok_or_else(|| {
            Error::not_found(format!(
                "secret `{}` of secrets manager `{}` has no key `{}`",
                reference.secret,
                self.name(),
                reference.key
            ))
        })
    }

    fn answer_in<E: Export>(&self, export: &E, chain: &mut Vec<String>) -> Result<E::Answer> {
        self.answered(self.call_in(export, chain)?.result)
    }

    /// A call's result, a not-found error naming this manager.
    fn answered<T>(&self, result: Result<T>) -> Result<T> {
        // Say where: the same secret name can live in several managers.
        // Only the flavor's answers come through here, so the manager has
        // not been named yet.
        result.map_err(|e| {
            if e.is(ErrorKind::NotFound) {
                e.map_detail(|msg| format!("{msg} in secrets manager `{}`", self.name()))
            } else {
                e
            }
        })
    }

    fn answer<E: Export>(&self, export: &E) -> Result<E::Answer> {
        self.answer_in(export, &mut Vec::new())
    }

    /// Creates a secret after checking it against its schema.
    pub fn register_secret(&self, secret: &Secret) -> Result<()> {
        self.managers
            .schemas
            .get(secret.schema())?
            .validate(secret)?;
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

    /// Merges `changes` into the stored values of `name`, removes the keys
    /// in `remove` (and switches its schema if asked), re-validates, and
    /// stores the result.
    pub fn update_secret(
        &self,
        name: &str,
        changes: Vec<(String, String)>,
        remove: &[String],
        schema: Option<&str>,
    ) -> Result<Secret> {
        check_name("secret name", name)?;
        // Check the changes on their own first, so a bad key or a repeated
        // key is reported as such and not as a merge artefact.
        crate::secret::check_input(&changes)?;
        if changes.is_empty() && remove.is_empty() && schema.is_none() {
            return Err(Error::invalid(
                "nothing to update: give KEY=VALUE pairs, --remove-key or --schema",
            ));
        }
        if let Some(schema) = schema {
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
            let read = self.call_in(&GetSecret(name), &mut Vec::new())?;
            let version = read.report.storage_version;
            let current = self.answered(read.result)?;
            let updated = self.merged(name, &current, &changes, remove, schema)?;
            let written = self.call_pinned(&UpdateSecret(&updated), version, &mut Vec::new())?;
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
                    self.answered(result)?;
                    return Ok(updated);
                }
            }
        }
    }

    /// `current` with `changes` set, `remove` removed and `schema` switched
    /// to, checked against its schema.
    fn merged(
        &self,
        name: &str,
        current: &Secret,
        changes: &[(String, String)],
        remove: &[String],
        schema: Option<&str>,
    ) -> Result<Secret> {
        let mut values = current.values().clone();
        for key in remove {
            if changes.iter().any(|(k, _)| k == key) {
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
        values.extend(changes.iter().cloned());
        if values.is_empty() {
            return Err(Error::invalid(format!(
                "removing those keys would leave secret `{name}` empty; delete it instead"
            )));
        }
        let updated = Secret::new(name, schema.unwrap_or(current.schema()), values)?;
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
    pub fn rename_secret(&self, old: &str, new: &str) -> Result<Secret> {
        check_name("secret name", old)?;
        check_name("secret name", new)?;
        if old == new {
            return Err(Error::invalid(format!(
                "secret `{old}` already has that name"
            )));
        }
        let current = self.answer(&GetSecret(old))?;
        let renamed = Secret::new(new, current.schema(), current.pairs())?;
        self.answer(&RegisterSecret(&renamed))?;
        if let Err(err) = self.answer(&DeleteSecret(old)) {
            return Err(match self.answer(&DeleteSecret(new)) {
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
        Ok(renamed)
    }

    /// Registers every secret of `secrets`, all or nothing: each is checked
    /// against its schema and against the names already taken before the
    /// first is written, and if a register fails midway, the secrets this
    /// call created are deleted again.
    pub fn register_all(&self, secrets: &[Secret]) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
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
            crate::secret::check_input(&secret.pairs())
                .map_err(|e| Error::invalid(format!("secret `{}`: {e}", secret.name())))?;
        }
        let existing = self.list_secrets()?;
        if let Some(taken) = secrets
            .iter()
            .find(|s| existing.iter().any(|e| e == s.name()))
        {
            return Err(Error::already_exists(format!(
                "secret `{}` exists already in secrets manager `{}`; nothing was imported",
                taken.name(),
                self.name()
            )));
        }
        let mut created: Vec<&str> = Vec::new();
        for secret in secrets {
            if let Err(err) = self.answer(&RegisterSecret(secret)) {
                let undone = created
                    .iter()
                    .filter(|name| self.answer(&DeleteSecret(name)).is_ok())
                    .count();
                let left = created.len() - undone;
                return Err(Error::backend(format!(
                    "registering secret `{}` failed ({err}); {undone} secret(s) this import \
                     had created were deleted again{}",
                    secret.name(),
                    if left == 0 {
                        String::new()
                    } else {
                        format!(", {left} could not be and remain")
                    }
                )));
            }
            created.push(secret.name());
        }
        Ok(())
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
                Ok(()) => {}
                Err(err) if err.is(ErrorKind::NotFound) => {}
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
    err.map_detail(|detail| format!("{report} {kind}: {detail}"))
}
