//! The contract between host and flavor, from the host's side: the WIT
//! bindings, the operations a flavor exports, and what an answer must look
//! like to be believed.
//!
//! A flavor is untrusted, so nothing it returns is passed through unchecked.
//! `get-secret` must return the secret that was asked for, with valid keys,
//! no duplicates and values within the size limit; a listing must hold only
//! valid, distinct names; `info()` must describe a flavor we can register.
//! A flavor that lies produces a `sandbox: garbage` error, never a value.

mod convert;
pub mod history;
pub mod v0_1;
pub mod v0_2;

pub use convert::{
    ContractVersion, FlavorError, info_from_v0_2, secret_from_v0_2, to_v0_1, to_v0_2,
};

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Violation};
use crate::policy::{Capability, caps};
use crate::secret::{Secret, check_key, check_name};
#[cfg(test)]
use v0_1::ConfigField as WitConfigField;
use v0_1::{FlavorInfo, WitSecret};

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
    // Contract 0.2 only.
    ListSecrets,
    GetMetadata,
    ListVersions,
    RestoreSecret,
    DestroyVersions,
    SetLabels,
    ValidateConfig,
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
            Operation::ListSecrets => "list-secrets",
            Operation::GetMetadata => "get-metadata",
            Operation::ListVersions => "list-versions",
            Operation::RestoreSecret => "restore-secret",
            Operation::DestroyVersions => "destroy-versions",
            Operation::SetLabels => "set-labels",
            Operation::ValidateConfig => "validate-config",
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
                | Operation::RestoreSecret
                | Operation::DestroyVersions
                | Operation::SetLabels
        )
    }

    /// The first contract version that has this export.
    pub const fn since(self) -> ContractVersion {
        match self {
            Operation::RegisterSecret
            | Operation::GetSecret
            | Operation::GetAllSecretKeys
            | Operation::UpdateSecret
            | Operation::DeleteSecret
            | Operation::DeleteAllSecrets
            | Operation::Info => ContractVersion::V0_1,
            Operation::ListSecrets
            | Operation::GetMetadata
            | Operation::ListVersions
            | Operation::RestoreSecret
            | Operation::DestroyVersions
            | Operation::SetLabels
            | Operation::ValidateConfig => ContractVersion::V0_2,
        }
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
    /// The contract version the component speaks; descriptions recorded
    /// before 0.2 existed are of 0.1.
    #[serde(default)]
    pub contract: ContractVersion,
    pub name: String,
    pub version: String,
    pub description: String,
    pub config: Vec<ConfigField>,
    pub capabilities: BTreeSet<Capability>,
}

/// Longest flavor name, in characters.
pub const MAX_FLAVOR_NAME: usize = 64;

/// A flavor name: 1-64 characters of lowercase ASCII letters, digits, `_`
/// and `-`, starting with a letter. Being lowercase, two names never differ
/// only in case, and none can pass for a built-in one (`LOCAL`, `Local`).
pub fn check_flavor_name(name: &str) -> Result<(), String> {
    let shown = crate::text::clip(name, 40);
    if name.is_empty() || name.chars().count() > MAX_FLAVOR_NAME {
        return Err(format!(
            "flavor name `{shown}` must be 1-{MAX_FLAVOR_NAME} characters"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "flavor name `{shown}` must start with a lowercase letter"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'))
    {
        return Err(format!(
            "flavor name `{shown}` contains {}; only lowercase letters, digits, `_` and `-` \
             are allowed",
            crate::text::clip(&bad.to_string(), 1)
        ));
    }
    Ok(())
}

/// Refuses `text` of more than `max` bytes, naming `what`.
fn at_most(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!(
            "{what} is {} bytes, more than the {max} allowed",
            text.len()
        ));
    }
    Ok(())
}

impl FlavorDescription {
    /// Checks a flavor's `info()`; the error says what is wrong with it.
    /// Every text is capped (`policy::caps`) and kept escaped, so it prints
    /// as one line that reads as what it is.
    pub fn from_wit(info: FlavorInfo, contract: ContractVersion) -> Result<Self, String> {
        check_flavor_name(&info.name)?;
        if info.version.is_empty() {
            return Err("the version is empty".to_string());
        }
        at_most("the version", &info.version, caps::VERSION_BYTES)?;
        at_most(
            "the description",
            &info.description,
            caps::DESCRIPTION_BYTES,
        )?;
        if info.config.len() > caps::CONFIG_FIELDS {
            return Err(format!(
                "{} config fields, more than the {} allowed",
                info.config.len(),
                caps::CONFIG_FIELDS
            ));
        }
        if info.capabilities.len() > Capability::ALL.len() {
            return Err(format!(
                "{} capabilities, more than the {} that exist",
                info.capabilities.len(),
                Capability::ALL.len()
            ));
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
                at_most(
                    &format!("the description of config key `{}`", field.name),
                    &field.description,
                    caps::FIELD_DESCRIPTION_BYTES,
                )?;
                Ok(ConfigField {
                    name: field.name,
                    description: crate::text::escape(&field.description).into_owned(),
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
            contract,
            name: info.name,
            version: crate::text::escape(&info.version).into_owned(),
            description: crate::text::escape(&info.description).into_owned(),
            config,
            capabilities,
        })
    }

    /// The config keys whose values are credentials.
    pub fn secret_config_keys(&self) -> impl Iterator<Item = &str> {
        self.config
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.as_str())
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

/// Checks the answer to `get-all-secret-keys`: valid, distinct names, at
/// most [`caps::LISTED_NAMES`] of them.
pub fn check_listing(names: Vec<String>) -> Result<Vec<String>, Error> {
    let op = Operation::GetAllSecretKeys;
    if names.len() > caps::LISTED_NAMES {
        return Err(garbage(
            op,
            format!(
                "{} names, more than the {} a listing may hold",
                names.len(),
                caps::LISTED_NAMES
            ),
        ));
    }
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
pub fn check_info(info: FlavorInfo, contract: ContractVersion) -> Result<FlavorDescription, Error> {
    FlavorDescription::from_wit(info, contract)
        .map_err(|e| garbage(Operation::Info, format!("an unusable description: {e}")))
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
        assert_eq!(other.kind().as_str(), "garbage");
        let twins = check_secret("a", wit("a", &[("k", "1"), ("k", "2")])).unwrap_err();
        assert!(twins.to_string().contains("more than once"), "{twins}");
    }

    #[test]
    fn listings_hold_valid_distinct_names() {
        assert!(check_listing(vec!["a".into(), "b".into()]).is_ok());
        assert!(check_listing(vec!["a".into(), "a".into()]).is_err());
        assert!(check_listing(vec!["../x".into()]).is_err());
    }

    fn info(name: &str) -> FlavorInfo {
        FlavorInfo {
            name: name.to_string(),
            version: "1".to_string(),
            description: "d".to_string(),
            config: Vec::new(),
            capabilities: Vec::new(),
        }
    }

    #[test]
    fn each_package_is_the_one_its_bindings_are_generated_from() {
        for (version, wit) in [
            (
                ContractVersion::V0_1,
                include_str!("../../../../wit/0.1/flavor.wit"),
            ),
            (
                ContractVersion::V0_2,
                include_str!("../../../../wit/0.2/flavor.wit"),
            ),
        ] {
            let package = version.package();
            assert!(
                wit.lines()
                    .any(|l| l.trim() == format!("package {package};")),
                "the WIT of {version:?} names another package than {package}"
            );
            let export = version.secrets_manager_export();
            let (interface, at) = export.split_once('@').unwrap();
            assert!(package.ends_with(at), "{export} is not of {package}");
            assert!(wit.contains(&format!(
                "export {}",
                &interface["flavorbox:secrets/".len()..]
            )));
        }
    }

    #[test]
    fn flavor_names_are_lowercase_and_never_twins_of_a_built_in() {
        for good in ["local2", "aws", "my-vault_1", "a"] {
            assert!(check_flavor_name(good).is_ok(), "{good}");
        }
        for bad in [
            "LOCAL",
            "Local",
            "",
            "1abc",
            "-x",
            "_x",
            "a b",
            "a.b",
            "ä",
            "a\u{202e}",
        ] {
            assert!(check_flavor_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_flavor_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn info_texts_and_config_fields_are_capped_and_escaped() {
        let mut big = info("f");
        big.config = (0..=caps::CONFIG_FIELDS)
            .map(|i| WitConfigField {
                name: format!("k{i}"),
                description: String::new(),
                required: false,
                secret: false,
            })
            .collect();
        let err = check_info(big, ContractVersion::V0_1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("65 config fields"), "{err}");
        let mut long = info("f");
        long.description = "x".repeat(caps::DESCRIPTION_BYTES + 1);
        assert!(
            check_info(long, ContractVersion::V0_1)
                .unwrap_err()
                .to_string()
                .contains("2049 bytes")
        );
        let mut spoof = info("f");
        spoof.description = "safe\u{202e}txt.exe\nflavorbox: forged".to_string();
        let described = check_info(spoof, ContractVersion::V0_1).unwrap();
        assert!(!described.description.chars().any(crate::text::is_unsafe));
        assert!(described.description.contains("\\u{202e}"));
    }

    #[test]
    fn only_writing_operations_write() {
        assert!(Operation::UpdateSecret.writes());
        assert!(!Operation::GetSecret.writes());
        assert!(!Operation::Info.writes());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever a flavor answers to `get-secret`, the check answers: a
        /// secret that is valid and the one asked for, or a `garbage`
        /// error on one line that quotes no value.
        #[test]
        fn any_get_secret_answer_is_accepted_only_if_valid(
            name in "[a-z._/ -]{0,8}",
            values in proptest::collection::vec(("[a-z_. ]{0,6}", "[a-z]{0,4}SECRET"), 0..6),
        ) {
            let answer = WitSecret {
                name: name.clone(),
                schema: "arbitrary".to_string(),
                values: values.clone(),
            };
            match check_secret("db", answer) {
                Ok(secret) => {
                    proptest::prop_assert_eq!(secret.name(), "db");
                    proptest::prop_assert_eq!(secret.values().len(), values.len());
                }
                Err(err) => {
                    proptest::prop_assert_eq!(err.kind().as_str(), "garbage");
                    let text = err.to_string();
                    proptest::prop_assert!(!text.contains("SECRET") && !text.contains('\n'), "{text}");
                }
            }
        }

        /// A listing is accepted only with valid, distinct names.
        #[test]
        fn any_listing_is_accepted_only_if_valid(
            names in proptest::collection::vec("[a-z./ ]{0,5}", 0..8),
        ) {
            match check_listing(names.clone()) {
                Ok(kept) => {
                    let distinct: BTreeSet<_> = kept.iter().collect();
                    proptest::prop_assert_eq!(distinct.len(), names.len());
                    for name in &kept {
                        proptest::prop_assert!(check_name("secret name", name).is_ok());
                    }
                }
                Err(err) => proptest::prop_assert_eq!(err.kind().as_str(), "garbage"),
            }
        }
    }
}
