//! How one call on a secrets manager is made: its config resolved, its
//! storage namespace attached, its flavor run in the sandbox, its log lines
//! forwarded.
//!
//! Every call goes through [`Manager::invoke`]; the other functions here
//! say which view of the call their caller gets:
//!
//! - [`Manager::call_contract`]: the raw contract call, the whole outcome
//!   (the conformance suite and `evaluate` judge a flavor by it);
//! - [`Manager::answer`]: the checked answer alone, a not-found naming this
//!   manager (the secret operations);
//! - [`Manager::read_versioned`] and [`Manager::write_at_version`]: a read
//!   and a write pinned to the storage version that read saw (`update`).
//!
//! Guards against a call that sees its config unresolved or shows it
//! unmasked, and a not-found that does not say in which manager: the same
//! secret name can live in several.

use super::Manager;
use crate::capabilities::log;
use crate::error::{ErrorKind, Result};
use crate::sandbox::exports::GetSecret;
use crate::sandbox::{CallSetup, Export, Grantee, Outcome};
use crate::secret::Secret;
use crate::store::NamespaceAccess;

impl Manager<'_> {
    /// Runs one export on this manager's flavor, unchecked by schemas, and
    /// returns the whole outcome (answer, masked output, report). This is
    /// the contract as a flavor sees it (e.g. `update-secret` replaces
    /// values); the conformance suite and `evaluate` use it.
    pub fn call_contract<E: Export>(&self, export: &E) -> Result<Outcome<E::Answer>> {
        self.invoke(export, &mut Vec::new(), None)
    }

    /// The one place a call is made: `export` on this manager's flavor,
    /// inside a chain of config references (`chain` holds the managers whose
    /// config is being resolved), its storage reads pinned to
    /// `pinned_version` if given (see `NamespaceAccess::pinned_at`).
    pub(super) fn invoke<E: Export>(
        &self,
        export: &E,
        chain: &mut Vec<String>,
        pinned_version: Option<u64>,
    ) -> Result<Outcome<E::Answer>> {
        let (config, mask) = self.effective_config(chain)?;
        let storage = NamespaceAccess::new(self.managers.db.clone(), self.record.id);
        let setup = CallSetup {
            policy: &self.policy,
            storage: Some(match pinned_version {
                Some(version) => storage.clone().pinned_at(version),
                None => storage.clone(),
            }),
            config,
            mask,
            grantee: Some(Grantee {
                flavor: &self.record.flavor,
                declared: &self.runnable.declared,
                trusted: self.runnable.trusted,
            }),
        };
        let outcome = self
            .managers
            .sandbox
            .get()?
            .call(&self.runnable.loaded, setup, export);
        log::forward(&outcome.logs, outcome.report.secret_bearing);
        if E::OPERATION.writes() && outcome.result.is_ok() && !outcome.report.stored {
            self.changed_outside_storage(&storage);
        }
        Ok(outcome)
    }

    /// The flavor's answer to `export`, a not-found naming this manager.
    pub(super) fn answer<E: Export>(&self, export: &E) -> Result<E::Answer> {
        self.naming_manager(self.call_contract(export)?.result)
    }

    /// A call's result, a not-found error naming this manager.
    pub(super) fn naming_manager<T>(&self, result: Result<T>) -> Result<T> {
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

    /// The secret `name` and the storage version its read saw (`None`
    /// when the storage keeps no versions).
    pub(super) fn read_versioned(&self, name: &str) -> Result<(Secret, Option<u64>)> {
        let read = self.call_contract(&GetSecret(name))?;
        let version = read.report.storage_version;
        Ok((self.naming_manager(read.result)?, version))
    }

    /// Runs the write `export` with its storage pinned to `version`, the
    /// one a read saw: if another call wrote in between, the write fails
    /// with a conflict instead of overwriting it. The whole outcome, so the
    /// caller can tell a stale write from any other failure.
    pub(super) fn write_at_version<E: Export>(
        &self,
        export: &E,
        version: Option<u64>,
    ) -> Result<Outcome<E::Answer>> {
        self.invoke(export, &mut Vec::new(), version)
    }
}
