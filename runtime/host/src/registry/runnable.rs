//! A registered flavor made ready to run: its compiled component, its
//! policy, and which config keys hold credentials.
//!
//! Guards against running something other than what was registered, and
//! against paying for it twice: a stored component is checked against its
//! digest before it is loaded (the compile cache is keyed by digest, so a
//! damaged component must never borrow the compiled code of the one
//! registered), and a flavor this process already loaded (and checked) is
//! not read again, which a server on a remote store would otherwise do for
//! every request. A stored component that can no longer be loaded within
//! the sandbox's limits is the flavor's fault (`sandbox: limit`).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::builtin::{LOCAL, bundled, local_policy, local_source};
use super::flavors::Flavors;
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::policy::{Capability, Grants, Policy};
use crate::sandbox::cache::digest;
use crate::sandbox::{LoadedFlavor, Sandbox, Source};
use crate::store::FlavorRecord;

/// What running a flavor takes: its compiled component, its policy, which
/// config keys hold credentials, and what it declares.
pub struct Runnable {
    pub loaded: Arc<LoadedFlavor>,
    pub policy: Policy,
    pub secret_config_keys: BTreeSet<String>,
    /// The capabilities the flavor declares that the operator can grant
    /// (none for the built-in flavor, whose grants are fixed).
    pub declared: BTreeSet<Capability>,
    /// The component is one this binary carries (see `sandbox::Grantee`).
    pub trusted: bool,
}

impl Runnable {
    /// The grants a call runs with: the policy's, and for a trusted flavor
    /// that declares `http`, `wasi:http` linked even without an origin
    /// granted, so that a request it makes is refused naming its origin
    /// (which the operator is then told to grant) rather than trapping
    /// before it has one. Nothing is reachable that was not granted.
    pub fn call_grants(&self) -> Grants {
        let mut grants = self.policy.grants.clone();
        if self.trusted && self.declared.contains(&Capability::Http) {
            grants.capabilities.insert(Capability::Http);
        }
        grants
    }
}

impl Flavors {
    /// The compiled component and policy of the flavor `name`, ready to run.
    /// A stored component that cannot be loaded within the sandbox's limits
    /// (a compile past its bounds, instance limits) is the flavor's fault.
    pub fn runnable(&self, name: &str) -> Result<Runnable> {
        let sandbox = self.sandbox.get()?;
        if name == LOCAL {
            return Ok(Runnable {
                loaded: sandbox.load(&local_source(), self.db.as_ref())?,
                policy: local_policy(),
                secret_config_keys: BTreeSet::new(),
                declared: BTreeSet::new(),
                trusted: true,
            });
        }
        // A bundled flavor not registered yet runs as it would once
        // registered (nothing granted), from the binary's component.
        let (record, unregistered) = match self.db.flavor(name)? {
            Some(record) => (record, None),
            None => {
                let flavor = bundled(name).ok_or_else(|| {
                    Error::not_found(format!("flavor `{name}` is not registered"))
                })?;
                (self.bundled_record(flavor)?, Some(flavor))
            }
        };
        // Loaded (and checked against its digest) earlier in this process:
        // not read again, which a server on a remote store would otherwise
        // do for every request.
        let loaded = match (sandbox.loaded(&record.digest), unregistered) {
            (Some(loaded), _) => loaded,
            (None, Some(flavor)) => sandbox.load(&flavor.source(), self.db.as_ref())?,
            (None, None) => self.load_stored(sandbox, name, &record)?,
        };
        Ok(Runnable {
            loaded,
            secret_config_keys: record
                .description
                .secret_config_keys()
                .map(str::to_string)
                .collect(),
            declared: record.description.capabilities.clone(),
            trusted: bundled(name).is_some_and(|flavor| flavor.digest == record.digest),
            policy: record.policy,
        })
    }

    /// Reads the stored component of the flavor `name` (registered as
    /// `record`), checks it against its digest and loads it within its
    /// compile limits.
    fn load_stored(
        &self,
        sandbox: &Sandbox,
        name: &str,
        record: &FlavorRecord,
    ) -> Result<Arc<LoadedFlavor>> {
        let wasm = self
            .db
            .flavor_component(name)?
            .ok_or_else(|| Error::not_found(format!("flavor `{name}` is not registered")))?;
        // The compile cache is keyed by digest: a damaged component must
        // never borrow the compiled code of the one registered.
        if digest(&wasm) != record.digest {
            return Err(Error::host(format!(
                "the stored component of flavor `{name}` does not match its digest; \
                 the store is corrupt"
            )));
        }
        let source = Source {
            digest: &record.digest,
            wasm: &wasm,
            builtin: false,
            limits: record.policy.limits.compile(),
        };
        sandbox
            .load(&source, self.db.as_ref())
            .map_err(|e| match e.kind() {
                ErrorKind::Invalid => Error::sandbox(
                    Violation::Limit,
                    format!("flavor `{name}` cannot be loaded: {}", e.detail()),
                ),
                _ => e,
            })
    }
}
