//! The one place where both contract versions meet the host's own types.
//!
//! Guards against the host growing two of everything: past the sandbox's
//! dispatch (`sandbox/exports.rs`), no code knows which version a flavor
//! speaks. A flavor's error, either version's, becomes a [`FlavorError`];
//! the records both versions share (`secret`, `flavor-info`) become 0.1's
//! generated ones, which the checks in this module's parent take (they are
//! field for field the same); what only 0.2 has is mapped onto the host's
//! types in `history`, checked there.

use serde::{Deserialize, Serialize};

use super::{v0_1, v0_2};
use crate::secret::Secret;

/// A contract version the host speaks: the WIT package a flavor's world
/// belongs to, told from the component's own exports.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum ContractVersion {
    /// `flavorbox:secrets@0.1.0`: one version per secret, no history.
    #[default]
    #[serde(rename = "flavorbox:secrets@0.1.0")]
    V0_1,
    /// `flavorbox:secrets@0.2.0`: versions, check-and-set, soft delete,
    /// metadata and labels, `validate-config`.
    #[serde(rename = "flavorbox:secrets@0.2.0")]
    V0_2,
}

impl ContractVersion {
    /// Every version, oldest first.
    pub const ALL: [ContractVersion; 2] = [ContractVersion::V0_1, ContractVersion::V0_2];

    /// The WIT package, as `wit/<version>/flavor.wit` names it.
    pub fn package(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "flavorbox:secrets@0.1.0",
            ContractVersion::V0_2 => "flavorbox:secrets@0.2.0",
        }
    }

    /// The `secrets-manager` interface a flavor of this version exports:
    /// how a loaded component is told apart.
    pub fn secrets_manager_export(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "flavorbox:secrets/secrets-manager@0.1.0",
            ContractVersion::V0_2 => "flavorbox:secrets/secrets-manager@0.2.0",
        }
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

/// Why a flavor's operation failed, as either contract version says it
/// (0.1 has no `conflict`). The string is the flavor's own text, unchecked:
/// `sandbox/withhold.rs` masks, clips or replaces it before anyone sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlavorError {
    NotFound(String),
    AlreadyExists(String),
    Invalid(String),
    Denied(String),
    Backend(String),
    Conflict(String),
}

impl From<v0_1::WitError> for FlavorError {
    fn from(err: v0_1::WitError) -> Self {
        use v0_1::WitError as W;
        match err {
            W::NotFound(m) => FlavorError::NotFound(m),
            W::AlreadyExists(m) => FlavorError::AlreadyExists(m),
            W::Invalid(m) => FlavorError::Invalid(m),
            W::Denied(m) => FlavorError::Denied(m),
            W::Backend(m) => FlavorError::Backend(m),
        }
    }
}

impl From<v0_2::WitError> for FlavorError {
    fn from(err: v0_2::WitError) -> Self {
        use v0_2::WitError as W;
        match err {
            W::NotFound(m) => FlavorError::NotFound(m),
            W::AlreadyExists(m) => FlavorError::AlreadyExists(m),
            W::Invalid(m) => FlavorError::Invalid(m),
            W::Denied(m) => FlavorError::Denied(m),
            W::Backend(m) => FlavorError::Backend(m),
            W::Conflict(m) => FlavorError::Conflict(m),
        }
    }
}

/// What the host's imports answer a 0.1 flavor. They never say `conflict`
/// (only a flavor does, to the host); were one to, a 0.1 flavor hears the
/// nearest thing it knows, `backend`.
impl From<FlavorError> for v0_1::WitError {
    fn from(err: FlavorError) -> Self {
        use v0_1::WitError as W;
        match err {
            FlavorError::NotFound(m) => W::NotFound(m),
            FlavorError::AlreadyExists(m) => W::AlreadyExists(m),
            FlavorError::Invalid(m) => W::Invalid(m),
            FlavorError::Denied(m) => W::Denied(m),
            FlavorError::Backend(m) | FlavorError::Conflict(m) => W::Backend(m),
        }
    }
}

impl From<FlavorError> for v0_2::WitError {
    fn from(err: FlavorError) -> Self {
        use v0_2::WitError as W;
        match err {
            FlavorError::NotFound(m) => W::NotFound(m),
            FlavorError::AlreadyExists(m) => W::AlreadyExists(m),
            FlavorError::Invalid(m) => W::Invalid(m),
            FlavorError::Denied(m) => W::Denied(m),
            FlavorError::Backend(m) => W::Backend(m),
            FlavorError::Conflict(m) => W::Conflict(m),
        }
    }
}

/// A 0.2 `secret`, as the checks take it (0.1's record, field for field).
pub fn secret_from_v0_2(secret: v0_2::WitSecret) -> v0_1::WitSecret {
    v0_1::WitSecret {
        name: secret.name,
        schema: secret.schema,
        values: secret.values,
    }
}

/// A 0.2 `flavor-info`, as the checks take it (0.1's record).
pub fn info_from_v0_2(info: v0_2::FlavorInfo) -> v0_1::FlavorInfo {
    v0_1::FlavorInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        config: info
            .config
            .into_iter()
            .map(|f| v0_1::ConfigField {
                name: f.name,
                description: f.description,
                required: f.required,
                secret: f.secret,
            })
            .collect(),
        capabilities: info.capabilities,
    }
}

/// The contract 0.1 form of a secret.
pub fn to_v0_1(secret: &Secret) -> v0_1::WitSecret {
    v0_1::WitSecret {
        name: secret.name().to_string(),
        schema: secret.schema().to_string(),
        values: secret.pairs(),
    }
}

/// The contract 0.2 form of a secret.
pub fn to_v0_2(secret: &Secret) -> v0_2::WitSecret {
    v0_2::WitSecret {
        name: secret.name().to_string(),
        schema: secret.schema().to_string(),
        values: secret.pairs(),
    }
}
