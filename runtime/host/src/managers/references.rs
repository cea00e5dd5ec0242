//! `{{name.key}}` references in a manager's config: one manager's
//! credentials kept as a secret of another, resolved at every call.
//!
//! Guards against: references that go round in a cycle or pass through more
//! than [`MAX_REFERENCE_DEPTH`] managers (each call would otherwise resolve
//! forever), a resolved value showing in a flavor's output (every one is
//! masked, as are the config fields a flavor marks secret), and a failure to
//! resolve that does not say which config key and which reference failed.
//!
//! Guards too against a reference left pointing at nothing: a secret that
//! any manager's stored config refers to is not deleted or renamed (the
//! refusal names every referring manager and config key) unless the caller
//! breaks the references on purpose, and is then told which it broke.

use std::collections::BTreeMap;
use std::fmt;

use super::{Manager, Managers};
use crate::error::{Error, ErrorKind, Result};
use crate::reference::Reference;
use crate::sandbox::exports::GetSecret;

/// How many managers a chain of config references may pass through.
const MAX_REFERENCE_DEPTH: usize = 4;

/// One config value that refers to a secret: the manager whose config
/// holds it, the config key, and the reference as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub manager: String,
    pub key: String,
    pub reference: Reference,
}

impl fmt::Display for Referrer {
    /// The config key and manager named, then the reference, e.g.
    /// ``config `token` of secrets manager `kv` ({{default/creds.token}})``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "config `{}` of secrets manager `{}` ({})",
            self.key, self.manager, self.reference
        )
    }
}

/// The referrers, joined for one line.
fn describe_referrers(referrers: &[Referrer]) -> String {
    let named: Vec<String> = referrers.iter().map(Referrer::to_string).collect();
    named.join(", ")
}

/// What a delete or rename does when a manager's config refers to a secret
/// it removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnReferences {
    /// Refuse, naming every referrer; nothing is changed.
    Refuse,
    /// Go ahead; the references are left broken and returned.
    Break,
}

impl Managers<'_> {
    /// Every config reference, in any manager of this home, to secret
    /// `secret` of manager `target` (to any of its secrets if `None`). A
    /// reference is pinned to its manager when it is set; one stored
    /// without (written before references were pinned) is taken as the
    /// active manager's, as a call resolves it.
    pub fn referrers(&self, target: &str, secret: Option<&str>) -> Result<Vec<Referrer>> {
        let active = self.db.active_manager()?.map(|record| record.name);
        let mut found = Vec::new();
        for record in self.list()? {
            for (key, value) in &record.config {
                let Some(Ok(reference)) = Reference::parse_whole(value) else {
                    continue;
                };
                let Some(manager) = reference.manager.as_ref().or(active.as_ref()) else {
                    continue;
                };
                if *manager == target && secret.is_none_or(|s| s == reference.secret) {
                    found.push(Referrer {
                        manager: record.name.clone(),
                        key: key.clone(),
                        reference,
                    });
                }
            }
        }
        Ok(found)
    }
}

impl Manager<'_> {
    /// Whether `action` (e.g. `deleting it`) on secret `secret` (every
    /// secret if `None`) may go ahead given the config references to it:
    /// none, or `on` says to break them (they are returned); otherwise a
    /// conflict naming every referrer.
    pub(super) fn references_allow(
        &self,
        secret: Option<&str>,
        action: &str,
        on: OnReferences,
    ) -> Result<Vec<Referrer>> {
        let mut referrers = self.managers.referrers(self.name(), secret)?;
        if secret.is_none() && !referrers.is_empty() {
            // Only the secrets there are: a reference already broken
            // holds nothing back.
            let names = self.list_secrets()?;
            referrers.retain(|r| names.contains(&r.reference.secret));
        }
        if referrers.is_empty() || on == OnReferences::Break {
            return Ok(referrers);
        }
        let (what, way_out) = match secret {
            Some(secret) => (
                format!("secret `{secret}` of secrets manager `{}` is", self.name()),
                "point the references elsewhere first (secrets-manager update), or force it \
                 (--force, ?force=true) to leave them broken",
            ),
            None => (
                format!("secrets of secrets manager `{}` are", self.name()),
                "point the references elsewhere first (secrets-manager update), or delete \
                 those secrets one by one with --force",
            ),
        };
        Err(Error::conflict(format!(
            "{what} referred to by {}; {action} would break the referring managers' next call: \
             {way_out}; nothing was changed",
            describe_referrers(&referrers)
        )))
    }
}

/// Config key `key`'s reference `reference` could not be read at
/// registration: `err` with the key and the reference named.
pub(super) fn refer_error(key: &str, reference: &Reference, err: Error) -> Error {
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

impl Manager<'_> {
    /// The config a call sees, with references resolved, and the values to
    /// mask in its output (secret config fields and resolved references).
    /// `chain` holds the managers whose config is being resolved.
    pub(super) fn effective_config(
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

    /// The value of `reference`'s key in this manager, read inside `chain`.
    pub(super) fn read_reference(
        &self,
        reference: &Reference,
        chain: &mut Vec<String>,
    ) -> Result<String> {
        let read = self.invoke(&GetSecret(&reference.secret), chain, None)?;
        let secret = self.naming_manager(read.result)?;
        secret.values().get(&reference.key).cloned().ok_or_else(|| {
            Error::not_found(format!(
                "secret `{}` of secrets manager `{}` has no key `{}`",
                reference.secret,
                self.name(),
                reference.key
            ))
        })
    }
}
