//! The checks a secrets manager's config passes before it is stored, at
//! registration and at every change.
//!
//! Guards against: a config key the flavor does not declare (a typo would
//! otherwise be stored and silently ignored), a required key left out, a
//! reference (`{{name.key}}`) that does not resolve now or that points at
//! the manager's own secrets (which need its config to be read; a
//! reference naming no manager in the active manager's own config is
//! pinned to the one other manager holding the secret), and a
//! config the flavor itself would refuse, judged in a call that can reach
//! nothing and whose output hides every credential and resolved value.

use std::collections::BTreeMap;

use super::Managers;
use super::references::refer_error;
use crate::capabilities::Ungranted;
use crate::contract::ContractVersion;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::{Capability, Grants, Policy};
use crate::reference::Reference;
use crate::registry::FlavorEntry;
use crate::sandbox::CallSetup;
use crate::sandbox::exports::{GetAllSecretKeys, ValidateConfig};

/// The longest flavor deadline a config check waits for, in milliseconds.
const CONFIG_CHECK_TIMEOUT_MS: u64 = 5_000;

/// A manager's config as checked: what is stored (references kept as
/// written) and what its flavor sees (references resolved).
#[derive(Default)]
pub(super) struct CheckedConfig {
    pub(super) stored: BTreeMap<String, String>,
    pub(super) resolved: BTreeMap<String, String>,
}

impl Managers<'_> {
    /// Checks `config` for a manager `name` on `flavor`: every key is one the
    /// flavor declares, every required key is there, and every reference
    /// (`{{name.key}}`, pinned when it names no manager: see
    /// [`Managers::pin_target`]) resolves now, through another manager.
    pub(super) fn checked_config(
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
                        let target = self.pin_target(name, &key, &reference)?;
                        reference = reference.pinned(&target);
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

    /// The manager a reference naming none, in the config of manager
    /// `name`, is pinned to: the active one; or, when that is `name`
    /// itself (whose config cannot come from its own secrets), the one
    /// other manager that holds the secret. Refused, asking for
    /// `{{manager/name.key}}`, when none or several hold it or a manager
    /// cannot be read to tell.
    fn pin_target(&self, name: &str, key: &str, reference: &Reference) -> Result<String> {
        let active = self.record(None)?.name;
        if active != name {
            return Ok(active);
        }
        let (mut holders, mut unreadable) = (Vec::new(), Vec::new());
        for record in self.list()? {
            if record.name == name {
                continue;
            }
            match self
                .bind(Some(&record.name))
                .and_then(|m| m.get_secret(&reference.secret))
            {
                Ok(_) => holders.push(record.name),
                Err(err) if err.is(ErrorKind::NotFound) => {}
                Err(_) => unreadable.push(format!("`{}`", record.name)),
            }
        }
        if let ([holder], []) = (holders.as_slice(), unreadable.as_slice()) {
            return Ok(holder.clone());
        }
        let found = match holders.len() {
            0 => "no other manager holds it".to_string(),
            _ => format!(
                "it is held by {}",
                holders
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let unread = if unreadable.is_empty() {
            String::new()
        } else {
            format!(" and {} could not be read", unreadable.join(", "))
        };
        Err(Error::invalid(format!(
            "config `{key}` refers to {reference}, which names no manager; the active one is \
             `{name}` itself, and {found}{unread}: write {{{{MANAGER/{}.{}}}}}",
            reference.secret, reference.key
        )))
    }

    /// Lets the flavor judge `config` before it is stored, in a call that
    /// can reach nothing: no network, no storage, the flavor's deadline at
    /// most 5 s. A flavor of contract 0.2 is asked `validate-config`, with
    /// nothing granted at all: `ok` accepts the config, any failure (its
    /// `invalid`, or reaching for storage or the network, which it was told
    /// it may not) refuses it. A 0.1 flavor has no such export, so the call
    /// is `get-all-secret-keys`; a flavor that checks its
    /// configuration first (as the shipped ones do: required keys, URL
    /// syntax, credential files) answers `invalid` and the registration is
    /// refused with its reason. Any other outcome (typically the refused
    /// network) accepts the config: what only the backend can judge is
    /// judged at first use. Flavors that take no config are not called.
    ///
    /// A trusted flavor (one this binary carries) is then (a 0.1 flavor
    /// in that same call) run with `wasi:http` linked but no origin
    /// granted, so the request it makes is refused naming the origin its
    /// config implies: if the flavor is not granted that origin (or a
    /// capability it used before it got there, e.g. `storage` for a cached
    /// token), it is returned, for the operator to grant. Only a trusted
    /// flavor's wishes are told: another's might name any origin.
    pub(super) fn flavor_accepts_config(
        &self,
        entry: &FlavorEntry,
        checked: &CheckedConfig,
    ) -> Result<Option<MissingGrant>> {
        if entry.description.config.is_empty() {
            return Ok(None);
        }
        let flavor = &entry.description.name;
        let runnable = self.flavors.runnable(flavor)?;
        let mut limits = runnable.policy.limits;
        limits.timeout_ms = limits.timeout_ms.min(CONFIG_CHECK_TIMEOUT_MS);
        let validates = runnable.loaded.contract >= ContractVersion::V0_2;
        if validates {
            self.flavor_validates_config(entry, checked, limits)?;
            if !runnable.trusted {
                return Ok(None);
            }
        }
        let mut grants = Grants::default();
        if runnable.trusted && runnable.declared.contains(&Capability::Http) {
            grants.capabilities.insert(Capability::Http);
        }
        let policy = Policy { limits, grants };
        let outcome = self.sandbox.get()?.call(
            &runnable.loaded,
            config_check_setup(&policy, entry, checked),
            &GetAllSecretKeys,
        );
        if !validates
            && let Err(err) = outcome.result
            && err.is(ErrorKind::Invalid)
        {
            return Err(Error::invalid(format!(
                "flavor `{flavor}` refuses this config: {}",
                err.detail()
            )));
        }
        let granted = &runnable.policy.grants;
        let missing = outcome.report.ungranted.filter(|wanted| {
            runnable.trusted
                && match wanted {
                    Ungranted::Origin(origin) => {
                        !granted.origins().iter().any(|grant| grant.matches(origin))
                    }
                    Ungranted::Capability(capability) => !granted.allows(*capability),
                }
        });
        Ok(missing.map(|wanted| MissingGrant {
            flavor: flavor.clone(),
            wanted,
        }))
    }

    /// `validate-config` of a 0.2 flavor: no grant, no storage, `config`
    /// as the one the `config` import reads, every credential and
    /// resolved value masked.
    fn flavor_validates_config(
        &self,
        entry: &FlavorEntry,
        checked: &CheckedConfig,
        limits: crate::policy::Limits,
    ) -> Result<()> {
        let flavor = &entry.description.name;
        let runnable = self.flavors.runnable(flavor)?;
        let policy = Policy {
            limits,
            grants: Grants::default(),
        };
        let outcome = self.sandbox.get()?.call(
            &runnable.loaded,
            config_check_setup(&policy, entry, checked),
            &ValidateConfig(&checked.resolved),
        );
        match outcome.result {
            Ok(()) => Ok(()),
            Err(err) if err.is(ErrorKind::Invalid) => Err(Error::invalid(format!(
                "flavor `{flavor}` refuses this config: {}",
                err.detail()
            ))),
            Err(err) => Err(Error::invalid(format!(
                "flavor `{flavor}` could not check this config (validate-config failed: {err})"
            ))),
        }
    }
}

/// The call a config check runs: under `policy`, without storage, the
/// config as the `config` import reads it, credentials masked.
fn config_check_setup<'a>(
    policy: &'a Policy,
    entry: &FlavorEntry,
    checked: &CheckedConfig,
) -> CallSetup<'a> {
    CallSetup {
        policy,
        storage: None,
        config: checked.resolved.clone(),
        mask: config_mask(entry, checked),
        grantee: None,
    }
}

/// What a config check masks in the flavor's output: credentials and
/// every value a reference resolved to.
fn config_mask(entry: &FlavorEntry, checked: &CheckedConfig) -> Vec<String> {
    let secret_keys: Vec<&str> = entry.description.secret_config_keys().collect();
    checked
        .resolved
        .iter()
        .filter(|(key, value)| {
            secret_keys.contains(&key.as_str()) || checked.stored.get(*key) != Some(value)
        })
        .map(|(_, value)| value.clone())
        .collect()
}

/// A grant a manager's flavor needs for its config and does not have (an
/// origin, or a capability it declares): what the operator grants next.
/// Only a trusted flavor's is reported (see `sandbox::Grantee`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingGrant {
    pub flavor: String,
    pub wanted: Ungranted,
}

impl MissingGrant {
    /// What is missing, as told: `needs <origin> for this config` or `uses
    /// capability `storage` for this config`.
    pub fn what(&self) -> String {
        match &self.wanted {
            Ungranted::Origin(origin) => format!("needs {origin} for this config"),
            Ungranted::Capability(capability) => {
                format!("uses capability `{capability}` for this config")
            }
        }
    }

    /// The command that grants it.
    pub fn command(&self) -> String {
        format!(
            "flavorbox flavor grant {} {}",
            self.flavor,
            self.wanted.grant_flag()
        )
    }
}
