//! The flavors bundled with the binary (`aws`, `gcp_secrets_manager`,
//! `vault`), as a home's registry holds them.
//!
//! Guards against a bundled flavor being granted anything nobody asked
//! for: it is registered the first time a command needs it (a secrets
//! manager on it once its config passed, a grant to it) with the default
//! limits and nothing granted, exactly as `flavor register` without
//! options would; until then it runs (a config check) as it would then. Guards
//! against a home running an old bundled component after the binary was
//! upgraded: a flavor registered from a bundle is replaced by this binary's
//! as `flavor register --replace` would (its grants, limits and managers
//! kept, the managers checked to fit), and each replacement is reported
//! with its digests before and after. A flavor an operator registered from
//! a file under a bundled name is theirs and never replaced; nor is a
//! bundled flavor a newer flavorbox sharing this store registered (its
//! version is newer than the one this binary carries).

use super::builtin::{BUNDLED, EmbeddedFlavor, bundled};
use super::change::FlavorChange;
use super::flavors::{FlavorEntry, Flavors, entry_from_record};
use super::options::RegisterOptions;
use crate::contract::FlavorDescription;
use crate::error::{Error, ErrorKind, Result};
use crate::store::FlavorRecord;

/// A bundled flavor brought up to this binary's component, or why it was
/// left as it is.
#[derive(Debug, Clone)]
pub struct BundledUpgrade {
    pub name: String,
    /// Version and digest registered before.
    pub before: (String, String),
    /// Version and digest this binary carries.
    pub after: (String, String),
    /// What the new component changes (declared capabilities, config
    /// fields), one line each; grants and limits are kept.
    pub changes: Vec<String>,
    /// Why the registered component was kept (a manager no longer fits the
    /// new version); `None` when it was replaced.
    pub kept: Option<Error>,
}

impl Flavors {
    /// The stored record of flavor `name`; a bundled flavor not registered
    /// yet is registered first, with nothing granted.
    pub(super) fn record_registering_bundled(&self, name: &str) -> Result<FlavorRecord> {
        if let Some(record) = self.db.flavor(name)? {
            return Ok(record);
        }
        let Some(flavor) = bundled(name) else {
            return Err(Error::not_found(format!(
                "flavor `{name}` is not registered"
            )));
        };
        let record = self.bundled_record(flavor)?;
        match self.db.insert_flavor(&record, flavor.wasm) {
            Ok(()) => Ok(record),
            // Another process registered it first: use what it stored.
            Err(err) if err.is(ErrorKind::AlreadyExists) => self.db.flavor(name)?.ok_or(err),
            Err(err) => Err(err),
        }
    }

    /// The record the bundled `flavor` gets when it is registered: the
    /// default limits, nothing granted.
    pub(super) fn bundled_record(&self, flavor: &EmbeddedFlavor) -> Result<FlavorRecord> {
        Ok(FlavorRecord {
            name: flavor.name.to_string(),
            digest: flavor.digest.to_string(),
            description: self.describe_component(&flavor.source())?,
            policy: RegisterOptions::default().policy()?,
            bundled: true,
        })
    }

    /// The bundled flavors this home has not registered, as listed.
    pub(super) fn unregistered_bundled(
        &self,
        registered: &[FlavorEntry],
    ) -> Result<Vec<FlavorEntry>> {
        BUNDLED
            .iter()
            .filter(|flavor| !registered.iter().any(|e| e.description.name == flavor.name))
            .map(|flavor| self.unregistered_entry(flavor))
            .collect()
    }

    /// The bundled `flavor` as listed before it is registered.
    pub(super) fn unregistered_entry(&self, flavor: &EmbeddedFlavor) -> Result<FlavorEntry> {
        let record = self.bundled_record(flavor)?;
        Ok(FlavorEntry {
            registered: false,
            ..entry_from_record(record)
        })
    }

    /// Replaces every flavor registered from a bundle whose component is
    /// not this binary's (unless a newer flavorbox registered it), keeping
    /// its grants, limits and managers. Returns one entry per flavor that
    /// differed: replaced, or kept with the reason.
    pub fn upgrade_bundled(&self) -> Result<Vec<BundledUpgrade>> {
        let mut upgrades = Vec::new();
        for record in self.db.flavors()? {
            let Some(flavor) = bundled(&record.name).filter(|_| record.bundled) else {
                continue;
            };
            if record.digest == flavor.digest {
                continue;
            }
            let description = self.describe_component(&flavor.source())?;
            if newer(&record.description.version, &description.version) {
                continue;
            }
            upgrades.push(self.upgrade(record, flavor, description)?);
        }
        Ok(upgrades)
    }

    /// Replaces `record` by the bundled `flavor` (described as
    /// `description`), or says why it was kept.
    fn upgrade(
        &self,
        record: FlavorRecord,
        flavor: &EmbeddedFlavor,
        description: FlavorDescription,
    ) -> Result<BundledUpgrade> {
        let changes = FlavorChange::between(
            (&record.description, &record.policy.grants),
            (&description, &record.policy.grants),
        )
        .lines();
        let mut upgrade = BundledUpgrade {
            name: record.name.clone(),
            before: (record.description.version.clone(), record.digest.clone()),
            after: (description.version.clone(), flavor.digest.to_string()),
            changes,
            kept: None,
        };
        if let Err(err) = self.check_managers_fit(&description) {
            upgrade.kept = Some(err);
            return Ok(upgrade);
        }
        let replacement = FlavorRecord {
            name: record.name,
            digest: flavor.digest.to_string(),
            description,
            policy: record.policy,
            bundled: true,
        };
        self.db.replace_flavor(&replacement, flavor.wasm)?;
        Ok(upgrade)
    }
}

/// Whether version `registered` is newer than `carried` (both as semantic
/// versions; a version that does not parse is never newer).
fn newer(registered: &str, carried: &str) -> bool {
    match (
        semver::Version::parse(registered),
        semver::Version::parse(carried),
    ) {
        (Ok(registered), Ok(carried)) => registered > carried,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::newer;

    #[test]
    fn only_a_newer_registered_version_is_left_alone() {
        assert!(newer("0.3.0", "0.2.1"));
        assert!(!newer("0.2.1", "0.2.1"));
        assert!(!newer("0.1.9", "0.2.0"));
        assert!(!newer("dev", "0.2.0"));
    }
}
