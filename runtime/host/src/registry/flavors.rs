//! The flavor registry: the built-in `local` flavor, the flavors bundled
//! with the binary, and every flavor an operator registered from a `.wasm`
//! file, and what the operator grants each.
//!
//! Guards against an operator's change leaving a flavor with more than was
//! meant: the built-in flavor's grants and limits are fixed and it cannot
//! be removed; a grant is checked like a registration's options
//! ([`RegisterOptions`]), and refused when the flavor does not declare
//! what it grants; a revoke names exactly what it takes away
//! (revoking `http` drops every origin, dropping the last origin revokes
//! `http`). How a component is judged before it is registered is in
//! `judge.rs`; how a registered flavor is made ready to run, in
//! `runnable.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::builtin::{LOCAL, LOCAL_DIGEST, bundled, local_policy, local_source};
use super::options::RegisterOptions;
use crate::contract::FlavorDescription;
use crate::error::{Error, Result};
use crate::policy::{Capability, Policy};
use crate::sandbox::LazySandbox;
use crate::store::{Database, FlavorRecord};

/// A flavor as listed and described.
#[derive(Debug, Clone, Serialize)]
pub struct FlavorEntry {
    #[serde(flatten)]
    pub description: FlavorDescription,
    pub digest: String,
    pub builtin: bool,
    /// Carried by the binary: built in, or bundled (and so upgraded with
    /// it) rather than registered from a file.
    pub bundled: bool,
    /// Registered in this home; a bundled flavor is registered the first
    /// time a command needs it.
    pub registered: bool,
    pub policy: Policy,
}

/// The flavors of one home.
pub struct Flavors {
    pub(super) db: Arc<dyn Database>,
    pub(super) sandbox: Arc<LazySandbox>,
    /// `info()` answers by component digest: a component's description does
    /// not change, so it is asked once per registry.
    pub(super) described: Mutex<HashMap<String, FlavorDescription>>,
}

impl Flavors {
    pub fn new(db: Arc<dyn Database>, sandbox: Arc<LazySandbox>) -> Self {
        Flavors {
            db,
            sandbox,
            described: Mutex::default(),
        }
    }

    /// The built-in `local` flavor.
    pub(super) fn local_entry(&self) -> Result<FlavorEntry> {
        let description = self.describe_component(&local_source())?;
        Ok(FlavorEntry {
            description,
            digest: LOCAL_DIGEST.to_string(),
            builtin: true,
            bundled: true,
            registered: true,
            policy: local_policy(),
        })
    }

    /// Every flavor: the built-in first, then the registered ones and the
    /// bundled ones not registered yet, by name.
    pub fn list(&self) -> Result<Vec<FlavorEntry>> {
        let mut entries: Vec<FlavorEntry> = self
            .db
            .flavors()?
            .into_iter()
            .map(entry_from_record)
            .collect();
        entries.extend(self.unregistered_bundled(&entries)?);
        entries.sort_by(|a, b| a.description.name.cmp(&b.description.name));
        entries.insert(0, self.local_entry()?);
        Ok(entries)
    }

    /// The flavor `name`: built in, registered, or bundled and not
    /// registered yet (which this does not register).
    pub fn get(&self, name: &str) -> Result<FlavorEntry> {
        if name == LOCAL {
            return self.local_entry();
        }
        if let Some(record) = self.db.flavor(name)? {
            return Ok(entry_from_record(record));
        }
        match bundled(name) {
            Some(flavor) => self.unregistered_entry(flavor),
            None => Err(Error::not_found(format!(
                "flavor `{name}` is not registered"
            ))),
        }
    }

    /// The flavor `name`, registered: a bundled flavor not registered yet
    /// is registered now, with nothing granted (see `bundled.rs`).
    pub fn get_registering(&self, name: &str) -> Result<FlavorEntry> {
        if name == LOCAL {
            return self.local_entry();
        }
        self.record_registering_bundled(name).map(entry_from_record)
    }

    /// Grants capabilities and origins and changes limits of a registered
    /// flavor in place.
    pub fn grant(&self, name: &str, options: &RegisterOptions) -> Result<FlavorEntry> {
        let entry = self.registered(name)?;
        if options.is_empty() {
            return Err(Error::invalid(
                "nothing to grant: give --grant, --allow-host or a limit",
            ));
        }
        let policy = options.apply(entry.policy)?;
        options.check_declared(name, &entry.description.capabilities)?;
        self.db.set_flavor_policy(name, &policy)?;
        self.get(name)
    }

    /// Revokes capabilities and origins of a registered flavor in place.
    /// Revoking `http` drops every origin; dropping the last origin revokes
    /// `http`.
    pub fn revoke(
        &self,
        name: &str,
        capabilities: &[Capability],
        origins: &[String],
    ) -> Result<FlavorEntry> {
        let entry = self.registered(name)?;
        if capabilities.is_empty() && origins.is_empty() {
            return Err(Error::invalid(
                "nothing to revoke: give --capability or --allow-host",
            ));
        }
        let mut grants = entry.policy.grants.clone();
        for capability in capabilities {
            if capability.always_granted() {
                return Err(Error::invalid(format!(
                    "capability `{capability}` is always granted"
                )));
            }
            if !grants.capabilities.remove(capability) {
                return Err(Error::invalid(format!(
                    "flavor `{name}` was not granted `{capability}`"
                )));
            }
            if *capability == Capability::Http {
                grants.http_origins.clear();
            }
        }
        for origin in origins {
            let before = grants.http_origins.len();
            grants.http_origins.retain(|o| o != origin);
            if grants.http_origins.len() == before {
                return Err(Error::invalid(format!(
                    "flavor `{name}` was not granted origin `{origin}`"
                )));
            }
            if grants.http_origins.is_empty() {
                grants.capabilities.remove(&Capability::Http);
            }
        }
        let policy = Policy {
            limits: entry.policy.limits,
            grants,
        };
        self.db.set_flavor_policy(name, &policy)?;
        self.get(name)
    }

    /// A registered (not built-in) flavor; a bundled one is registered
    /// first.
    fn registered(&self, name: &str) -> Result<FlavorEntry> {
        if name == LOCAL {
            return Err(Error::denied(format!(
                "flavor `{LOCAL}` is built in; its grants and limits are fixed"
            )));
        }
        self.get_registering(name)
    }

    /// Removes a registered flavor; a bundled one stays listed, and is
    /// registered again (with nothing granted) when next used.
    pub fn remove(&self, name: &str) -> Result<()> {
        if name == LOCAL {
            return Err(Error::denied(format!(
                "flavor `{LOCAL}` is built in and cannot be removed"
            )));
        }
        self.db.remove_flavor(name)
    }
}

pub(super) fn entry_from_record(record: FlavorRecord) -> FlavorEntry {
    FlavorEntry {
        description: record.description,
        digest: record.digest,
        builtin: false,
        bundled: record.bundled,
        registered: true,
        policy: record.policy,
    }
}
