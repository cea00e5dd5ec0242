//! `{{name.key}}` references in a manager's config: one manager's
//! credentials kept as a secret of another, resolved at every call.
//!
//! Guards against: references that go round in a cycle or pass through more
//! than [`MAX_REFERENCE_DEPTH`] managers (each call would otherwise resolve
//! forever), a resolved value showing in a flavor's output (every one is
//! masked, as are the config fields a flavor marks secret), and a failure to
//! resolve that does not say which config key and which reference failed.

use std::collections::BTreeMap;

use super::Manager;
use crate::error::{Error, ErrorKind, Result};
use crate::reference::Reference;
use crate::sandbox::exports::GetSecret;

/// How many managers a chain of config references may pass through.
const MAX_REFERENCE_DEPTH: usize = 4;

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
