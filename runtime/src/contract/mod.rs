//! The contract between host and flavor, from the host's side: the WIT
//! bindings, the operations a flavor exports, and what an answer must look
//! like to be believed.
//!
//! A flavor is untrusted, so nothing it returns is passed through unchecked.
//! `get-secret` must return the secret that was asked for, with valid keys,
//! no duplicates and values within the size limit; a listing must hold only
//! valid, distinct names; `info()` must describe a flavor we can register.
//! A flavor that lies produces a `sandbox: garbage` error, never a value.

pub mod bindings;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Violation};
use crate::policy::Capability;
use crate::secret::{Secret, check_key, check_name};
use bindings::{FlavorInfo, WitSecret};

/// An export of the `flavor` world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    RegisterSecret,
    GetSecret,
    GetAllSecretKeys,
    UpdateSecret,
    DeleteSecret,
    DeleteAllSecrets,
    Info,
}

impl Operation {
    /// The WIT name of the export, for messages and reports.
    pub fn name(self) -> &'static str {
        match self {
            Operation::RegisterSecret => "register-secret",
            Operation::GetSecret => "get-secret",
            Operation::GetAllSecretKeys => "get-all-secret-keys",
            Operation::UpdateSecret => "update-secret",
            Operation::DeleteSecret => "delete-secret",
            Operation::DeleteAllSecrets => "delete-all-secrets",
            Operation::Info => "info",
        }
    }

    /// Whether the operation is expected to write storage.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Operation::RegisterSecret
                | Operation::UpdateSecret
                | Operation::DeleteSecret
                | Operation::DeleteAllSecrets
        )
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One configuration key a flavor takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigField {
    pub name: String,
    pub description: String,
    pub required: bool,
    /// A credential: never printed back.
    pub secret: bool,
}

/// What a flavor says about itself, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorDescription {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config: Vec<ConfigField>,
    pub capabilities: BTreeSet<Capability>,
}

impl FlavorDescription {
    /// Checks a flavor's `info()`; the error says what is wrong with it.
    pub fn from_wit(info: FlavorInfo) -> Result<Self, String> {
        check_name("flavor name", &info.name).map_err(|e| e.0)?;
        if info.version.is_empty() || info.version.len() > 64 {
            return Err("a version must be 1-64 bytes".to_string());
        }
        let mut names = BTreeSet::new();
        let config = info
            .config
            .into_iter()
            .map(|field| {
                check_key(&field.name).map_err(|e| format!("config {e}"))?;
                if !names.insert(field.name.clone()) {
                    return Err(format!("config key `{}` is listed twice", field.name));
                }
                Ok(ConfigField {
                    name: field.name,
                    description: clip(&field.description),
                    required: field.required,
                    secret: field.secret,
                })
            })
            .collect::<Result<_, String>>()?;
        let capabilities = info
            .capabilities
            .iter()
            .map(|c| c.parse::<Capability>())
            .collect::<Result<_, String>>()?;
        Ok(FlavorDescription {
            name: info.name,
            version: clip(&info.version),
            description: clip(&info.description),
            config,
            capabilities,
        })
    }
}

fn garbage(operation: Operation, detail: String) -> Error {
    Error::sandbox(
        Violation::Garbage,
        format!("{} returned {detail}", operation.name()),
    )
}

/// Checks the answer to `get-secret(asked)`.
pub fn check_secret(asked: &str, secret: WitSecret) -> Result<Secret, Error> {
    if secret.name != asked {
        return Err(garbage(
            Operation::GetSecret,
            format!("secret `{}` when asked for `{asked}`", clip(&secret.name)),
        ));
    }
    Secret::new(secret.name, secret.schema, secret.values)
        .map_err(|e| garbage(Operation::GetSecret, format!("an invalid secret: {e}")))
}

/// Checks the answer to `get-all-secret-keys`: valid, distinct names.
pub fn check_listing(names: Vec<String>) -> Result<Vec<String>, Error> {
    let op = Operation::GetAllSecretKeys;
    let mut seen = BTreeSet::new();
    for name in &names {
        check_name("secret name", name)
            .map_err(|e| garbage(op, format!("an invalid listing: {e}")))?;
        if !seen.insert(name) {
            return Err(garbage(op, format!("secret `{name}` twice in one listing")));
        }
    }
    Ok(names)
}

/// Checks the answer to `info()`.
pub fn check_info(info: FlavorInfo) -> Result<FlavorDescription, Error> {
    FlavorDescription::from_wit(info)
        .map_err(|e| garbage(Operation::Info, format!("an unusable description: {e}")))
}

/// The contract's form of a secret.
pub fn to_wit(secret: &Secret) -> WitSecret {
    WitSecret {
        name: secret.name().to_string(),
        schema: secret.schema().to_string(),
        values: secret.pairs(),
    }
}

/// Text from a flavor, made fit for a one-line message: unsafe characters
/// escaped (see [`crate::text`]) and cut at 300 characters.
pub fn clip(text: &str) -> String {
    crate::text::clip(text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit(name: &str, values: &[(&str, &str)]) -> WitSecret {
        WitSecret {
            name: name.to_string(),
            schema: "arbitrary".to_string(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_secret_of_another_name_or_with_twin_keys_is_garbage() {
        assert!(check_secret("a", wit("a", &[("k", "v")])).is_ok());
        let other = check_secret("a", wit("b", &[("k", "v")])).unwrap_err();
        assert_eq!(other.kind(), "garbage");
        let twins = check_secret("a", wit("a", &[("k", "1"), ("k", "2")])).unwrap_err();
        assert!(twins.to_string().contains("more than once"), "{twins}");
    }

    #[test]
    fn listings_hold_valid_distinct_names() {
        assert!(check_listing(vec!["a".into(), "b".into()]).is_ok());
        assert!(check_listing(vec!["a".into(), "a".into()]).is_err());
        assert!(check_listing(vec!["../x".into()]).is_err());
    }

    #[test]
    fn only_writing_operations_write() {
        assert!(Operation::UpdateSecret.writes());
        assert!(!Operation::GetSecret.writes());
        assert!(!Operation::Info.writes());
    }
}
