//! The exports contract 0.2 adds: versions, check-and-set, soft delete's
//! undo, destroying versions, labels, metadata and the config check.
//!
//! Guards against a 0.1 flavor being asked for what it cannot have: each
//! of these is refused before a 0.1 flavor runs (`unsupported`), so its
//! `V0_1` arm is never reached. Arguments are checked before any flavor
//! runs (a version 0, too many versions at once, labels the contract
//! forbids are the caller's `invalid`), answers after (`contract::history`).

use std::collections::{BTreeMap, BTreeSet};

use wasmtime::Store;

use super::{CallState, Export, FlavorInstance, Returned, from_v0_2, not_in_v0_1, secret_values};
use crate::contract::history::{
    self, Labels, MAX_DESTROYED_AT_ONCE, SecretHistory, SecretMetadata,
};
use crate::contract::{self, ContractVersion, Operation, v0_2};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The 0.2 `secrets-manager` of `flavor`, or the trap of a 0.1 one.
fn manager(
    flavor: &FlavorInstance,
    operation: Operation,
) -> wasmtime::Result<&v0_2::exports::flavorbox::secrets::secrets_manager::Guest> {
    match flavor {
        FlavorInstance::V0_2(f) => Ok(f.flavorbox_secrets_secrets_manager()),
        FlavorInstance::V0_1(_) => Err(not_in_v0_1(operation)),
    }
}

/// `get-secret(name, some(version))`: that version's values.
pub struct GetSecretVersion<'a> {
    pub name: &'a str,
    pub version: u64,
}

impl Export for GetSecretVersion<'_> {
    type Raw = v0_2::VersionedSecret;
    type Answer = Secret;
    const OPERATION: Operation = Operation::GetSecret;
    const SINCE: ContractVersion = ContractVersion::V0_2;

    fn answer_values(answer: &Secret) -> Vec<&str> {
        secret_values(answer)
    }

    fn subject(&self) -> Option<&str> {
        Some(self.name)
    }

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Self::Raw> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(
            manager
                .call_get_secret(store, self.name, Some(self.version))
                .await,
        )
    }

    fn check(&self, raw: Self::Raw) -> Result<Secret> {
        if raw.version != self.version {
            return Err(history::garbage(
                Self::OPERATION,
                format!(
                    "version {} of `{}` when asked for version {}",
                    raw.version, self.name, self.version
                ),
            ));
        }
        contract::check_secret(self.name, contract::secret_from_v0_2(raw.secret))
    }
}

/// `get-secret(name, none)` on a 0.2 flavor: the current version's values
/// and its number, read in one call (so a client's `ETag` names the
/// version whose values it was sent).
pub struct GetCurrentVersion<'a>(pub &'a str);

impl Export for GetCurrentVersion<'_> {
    type Raw = v0_2::VersionedSecret;
    type Answer = (Secret, u64);
    const OPERATION: Operation = Operation::GetSecret;
    const SINCE: ContractVersion = ContractVersion::V0_2;

    fn answer_values(answer: &(Secret, u64)) -> Vec<&str> {
        secret_values(&answer.0)
    }

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Self::Raw> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(manager.call_get_secret(store, self.0, None).await)
    }

    fn check(&self, raw: Self::Raw) -> Result<(Secret, u64)> {
        if raw.version == 0 {
            return Err(history::garbage(
                Self::OPERATION,
                format!("version 0 of `{}`; versions start at 1", self.0),
            ));
        }
        let secret = contract::check_secret(self.0, contract::secret_from_v0_2(raw.secret))?;
        Ok((secret, raw.version))
    }
}

/// `update-secret(secret, expected)`: the version written. With
/// `expected`, a `conflict` if the secret moved on; nothing is written.
pub struct UpdateSecretIf<'a> {
    pub secret: &'a Secret,
    pub expected: Option<u64>,
}

impl Export for UpdateSecretIf<'_> {
    type Raw = u64;
    type Answer = u64;
    const OPERATION: Operation = Operation::UpdateSecret;
    const SINCE: ContractVersion = ContractVersion::V0_2;

    fn given_values(&self) -> Vec<&str> {
        secret_values(self.secret)
    }

    fn subject(&self) -> Option<&str> {
        Some(self.secret.name())
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<u64> {
        let manager = manager(flavor, Self::OPERATION)?;
        let secret = contract::to_v0_2(self.secret);
        from_v0_2(
            manager
                .call_update_secret(store, &secret, self.expected)
                .await,
        )
    }

    fn check(&self, written: u64) -> Result<u64> {
        history::check_written(self.expected, written)
    }
}

/// `list-secrets(include-deleted)`.
pub struct ListSecrets {
    pub include_deleted: bool,
}

impl Export for ListSecrets {
    type Raw = Vec<v0_2::SecretMetadata>;
    type Answer = Vec<SecretMetadata>;
    const OPERATION: Operation = Operation::ListSecrets;

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Self::Raw> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(manager.call_list_secrets(store, self.include_deleted).await)
    }

    fn check(&self, raw: Self::Raw) -> Result<Vec<SecretMetadata>> {
        history::check_metadata_listing(self.include_deleted, raw)
    }
}

/// `get-metadata(name)`.
pub struct GetMetadata<'a>(pub &'a str);

impl Export for GetMetadata<'_> {
    type Raw = v0_2::SecretMetadata;
    type Answer = SecretMetadata;
    const OPERATION: Operation = Operation::GetMetadata;

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Self::Raw> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(manager.call_get_metadata(store, self.0).await)
    }

    fn check(&self, raw: Self::Raw) -> Result<SecretMetadata> {
        history::check_metadata(self.0, raw)
    }
}

/// `list-versions(name)`: the metadata and the versions kept.
pub struct ListVersions<'a>(pub &'a str);

impl Export for ListVersions<'_> {
    type Raw = v0_2::SecretHistory;
    type Answer = SecretHistory;
    const OPERATION: Operation = Operation::ListVersions;

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Self::Raw> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(manager.call_list_versions(store, self.0).await)
    }

    fn check(&self, raw: Self::Raw) -> Result<SecretHistory> {
        history::check_history(self.0, raw)
    }
}

/// `restore-secret(name)`: a soft delete undone.
pub struct RestoreSecret<'a>(pub &'a str);

impl Export for RestoreSecret<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::RestoreSecret;

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(manager.call_restore_secret(store, self.0).await)
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `destroy-versions(name, versions)`: 1-100 distinct versions, each at
/// least 1 (made by [`DestroyVersions::new`]).
pub struct DestroyVersions<'a> {
    name: &'a str,
    versions: Vec<u64>,
}

impl<'a> DestroyVersions<'a> {
    /// Refuses (`invalid`) an empty list, more than 100 versions, twins
    /// and version 0 before any flavor sees them.
    pub fn new(name: &'a str, versions: impl IntoIterator<Item = u64>) -> Result<Self> {
        let versions: BTreeSet<u64> = versions.into_iter().collect();
        if versions.is_empty() || versions.len() > MAX_DESTROYED_AT_ONCE {
            return Err(Error::invalid(format!(
                "name 1-{MAX_DESTROYED_AT_ONCE} distinct versions to destroy, not {}",
                versions.len()
            )));
        }
        if versions.contains(&0) {
            return Err(Error::invalid("there is no version 0; versions start at 1"));
        }
        Ok(DestroyVersions {
            name,
            versions: versions.into_iter().collect(),
        })
    }
}

impl Export for DestroyVersions<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::DestroyVersions;

    fn subject(&self) -> Option<&str> {
        Some(self.name)
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(
            manager
                .call_destroy_versions(store, self.name, &self.versions)
                .await,
        )
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `set-labels(name, labels)`: every label replaced (labels checked when
/// made, [`Labels::new`]).
pub struct SetLabels<'a> {
    pub name: &'a str,
    pub labels: &'a Labels,
}

impl Export for SetLabels<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::SetLabels;

    fn subject(&self) -> Option<&str> {
        Some(self.name)
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        let manager = manager(flavor, Self::OPERATION)?;
        from_v0_2(
            manager
                .call_set_labels(store, self.name, self.labels.pairs())
                .await,
        )
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `validate-config(config)`: the flavor's judgment of a config, made with
/// nothing granted (the caller's `CallSetup` has no storage, no grants,
/// and this config as the one `config` reads).
pub struct ValidateConfig<'a>(pub &'a BTreeMap<String, String>);

impl Export for ValidateConfig<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::ValidateConfig;

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        let manager = manager(flavor, Self::OPERATION)?;
        let config: Vec<(String, String)> =
            self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        from_v0_2(manager.call_validate_config(store, &config).await)
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}
