//! Registration: where an untrusted component is judged before anything is
//! stored.
//!
//! Guards against a component that is not a flavor, or not a sane one,
//! entering the registry: it must be a component (not a core module),
//! export the `flavor` world, import nothing the host does not provide
//! (`Sandbox::load`), describe itself sanely through `info()` within the
//! sandbox, without grants (a breach there is bad input, `invalid`), and
//! not claim the built-in name. Capabilities it declares are checked
//! against what the operator grants (granted but not declared is refused as
//! a typo; declared but not granted is reported; used but not granted is
//! refused at run time). A replacement must fit
//! every secrets manager of the flavor it replaces, and what it changes is
//! shown to the caller, who approves a widening change (`change.rs`).

use std::collections::HashMap;
use std::path::Path;

use super::builtin::{BUILTIN_NAMES, bundled, is_embedded};
use super::change::FlavorChange;
use super::flavors::{FlavorEntry, Flavors, entry_from_record};
use super::options::RegisterOptions;
use crate::contract::FlavorDescription;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::{Capability, CompileLimits, Policy, check_origins};
use crate::sandbox::Source;
use crate::sandbox::cache::digest;
use crate::store::FlavorRecord;

/// The result of registering a flavor.
pub struct Registered {
    pub entry: FlavorEntry,
    /// Capabilities the flavor declares but was not granted; it will be
    /// refused when it uses them.
    pub ungranted: Vec<Capability>,
}

/// The result of replacing a flavor's component.
pub struct Replaced {
    pub before: FlavorEntry,
    pub after: Registered,
}

impl Flavors {
    /// Runs `info()` of a component in the sandbox, without grants. A
    /// component that breaks the sandbox while describing itself is bad
    /// input (`invalid`), as it is being judged here.
    pub(super) fn describe_component(&self, source: &Source<'_>) -> Result<FlavorDescription> {
        if let Some(description) = self.lock_described().get(source.digest) {
            return Ok(description.clone());
        }
        let sandbox = self.sandbox.get()?;
        let loaded = sandbox.load(source, self.db.as_ref())?;
        let outcome = sandbox.info(&loaded);
        crate::capabilities::log::forward(&outcome.logs, outcome.report.secret_bearing);
        let description = outcome.result.map_err(|e| match e.violation() {
            Some(_) => Error::invalid(format!("info() {e}")),
            None => e,
        })?;
        self.lock_described()
            .insert(source.digest.to_string(), description.clone());
        Ok(description)
    }

    fn lock_described(&self) -> std::sync::MutexGuard<'_, HashMap<String, FlavorDescription>> {
        self.described.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the component at `path` (compiling it within `limits`) and
    /// returns its checked description, without registering it.
    pub fn inspect(&self, path: &Path, limits: CompileLimits) -> Result<FlavorDescription> {
        self.read_flavor(path, limits)
            .map(|(_, _, description)| description)
    }

    /// Reads, loads and describes a component, refusing one that claims the
    /// built-in name.
    fn read_flavor(
        &self,
        path: &Path,
        limits: CompileLimits,
    ) -> Result<(Vec<u8>, String, FlavorDescription)> {
        let wasm = std::fs::read(path)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        let digest = digest(&wasm);
        let source = Source {
            digest: &digest,
            wasm: &wasm,
            builtin: is_embedded(&digest),
            limits,
        };
        let description = self
            .describe_component(&source)
            .map_err(|e| match e.kind() {
                ErrorKind::Invalid => e.map_detail(|why| format!("{}: {why}", path.display())),
                _ => e,
            })?;
        if BUILTIN_NAMES.contains(&description.name.as_str()) {
            return Err(Error::invalid(format!(
                "{}: flavor claims the name `{}`, which is built in",
                path.display(),
                description.name
            )));
        }
        Ok((wasm, digest, description))
    }

    /// Registers the flavor in the component at `path`.
    pub fn register(&self, path: &Path, options: &RegisterOptions) -> Result<Registered> {
        let policy = options.policy()?;
        check_origins(&policy.grants.http_origins)?;
        let (wasm, digest, description) = self.read_flavor(path, policy.limits.compile())?;
        options.check_declared(&description.name, &description.capabilities)?;
        let record = new_record(digest, description, policy);
        self.db.insert_flavor(&record, &wasm)?;
        Ok(registered(record))
    }

    /// Upgrades the registered flavor `name` to the component at `path`
    /// (which must describe itself as `name`), keeping its managers (and so
    /// their secrets) and its grants and limits (changed by `options` where
    /// they say so). Refused if a manager's config no longer fits the new
    /// version, or if `approve` refuses the change (it is shown every
    /// change, and decides on a widening one; see [`FlavorChange`]).
    pub fn replace(
        &self,
        name: &str,
        path: &Path,
        options: &RegisterOptions,
        approve: impl FnOnce(&FlavorChange) -> Result<()>,
    ) -> Result<Replaced> {
        // The new component is compiled within the default bounds, or the
        // ones `options` set: which flavor it replaces is known only once it
        // has described itself.
        let compile = options.policy()?.limits.compile();
        let (wasm, digest, description) = self.read_flavor(path, compile)?;
        if description.name != name {
            return Err(Error::invalid(format!(
                "the component describes flavor `{}`, not `{name}`; nothing was replaced",
                description.name
            )));
        }
        let before = self
            .db
            .flavor(&description.name)?
            .map(entry_from_record)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "flavor `{}` is not registered; register it without --replace",
                    description.name
                ))
            })?;
        options.check_declared(name, &description.capabilities)?;
        let policy = options.apply(before.policy.clone())?;
        check_origins(&policy.grants.http_origins)?;
        self.check_managers_fit(&description)?;
        approve(&FlavorChange::between(
            (&before.description, &before.policy.grants),
            (&description, &policy.grants),
        ))?;
        let record = new_record(digest, description, policy);
        self.db.replace_flavor(&record, &wasm)?;
        Ok(Replaced {
            before,
            after: registered(record),
        })
    }

    /// Refuses the version `description` describes unless every secrets
    /// manager of its flavor fits it: has no config key it no longer takes
    /// and every key it requires.
    pub(super) fn check_managers_fit(&self, description: &FlavorDescription) -> Result<()> {
        for manager in self.db.managers()? {
            if manager.flavor != description.name {
                continue;
            }
            let unknown = manager
                .config
                .keys()
                .find(|k| !description.config.iter().any(|f| &f.name == *k));
            if let Some(key) = unknown {
                return Err(Error::invalid(format!(
                    "secrets manager `{}` has config key `{key}`, which version {} of flavor \
                     `{}` no longer takes; update the manager first",
                    manager.name, description.version, description.name
                )));
            }
            if let Some(missing) = description
                .config
                .iter()
                .find(|f| f.required && !manager.config.contains_key(&f.name))
            {
                return Err(Error::invalid(format!(
                    "version {} of flavor `{}` requires config key `{}`, which secrets manager \
                     `{}` does not have; add it with `secrets-manager update`",
                    description.version, description.name, missing.name, manager.name
                )));
            }
        }
        Ok(())
    }
}

/// What is stored of a judged component; the very component bundled under
/// its name is recorded as bundled (and so upgraded with the binary).
fn new_record(digest: String, description: FlavorDescription, policy: Policy) -> FlavorRecord {
    FlavorRecord {
        bundled: bundled(&description.name).is_some_and(|b| b.digest == digest),
        name: description.name.clone(),
        digest,
        description,
        policy,
    }
}

/// A stored flavor as registered: its entry, and what it declares but was
/// not granted.
fn registered(record: FlavorRecord) -> Registered {
    let entry = entry_from_record(record);
    let ungranted = entry.policy.ungranted(&entry.description.capabilities);
    Registered { entry, ungranted }
}
