//! One type per export of the `flavor` world, each knowing how to call its
//! export on an instance of either contract version and how to check the
//! answer. The operations 0.1 has are here; what 0.2 adds is in `history`.
//!
//! Every export has its own answer type ([`Export::Answer`]), so a caller of
//! `get-secret` gets a [`Secret`] and nothing else can come back: there is
//! no request/response enum to match.
//!
//! A 0.1-era operation on a 0.2 flavor calls the 0.2 function with the
//! defaults that keep its 0.1 meaning: `get-secret(name, none)` (the
//! current version), `register-secret(secret, [])` (no labels),
//! `update-secret(secret, none)` (no check-and-set), and [`DeleteSecret`]
//! is `delete-secret(name, purge: false)`, a soft delete `restore-secret`
//! undoes ([`PurgeSecret`] is the final one, on either version: a 0.1
//! flavor's delete is final). An operation 0.1 lacks is refused before a
//! 0.1 flavor runs (see [`unsupported`]).

mod history;

pub use history::{
    DestroyVersions, GetCurrentVersion, GetMetadata, GetSecretVersion, ListSecrets, ListVersions,
    RestoreSecret, SetLabels, UpdateSecretIf, ValidateConfig,
};

use wasmtime::Store;

use super::FlavorInstance;
use super::state::CallState;
use crate::contract::{self, ContractVersion, FlavorDescription, FlavorError, Operation};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// What an export's call returns: the outer error is a trap.
pub type Returned<T> = wasmtime::Result<std::result::Result<T, FlavorError>>;

/// A 0.2 answer, its error in the host's terms.
fn from_v0_2<T>(
    got: wasmtime::Result<std::result::Result<T, contract::v0_2::WitError>>,
) -> Returned<T> {
    got.map(|r| r.map_err(FlavorError::from))
}

/// A 0.1 answer, its error in the host's terms.
fn from_v0_1<T>(
    got: wasmtime::Result<std::result::Result<T, contract::v0_1::WitError>>,
) -> Returned<T> {
    got.map(|r| r.map_err(FlavorError::from))
}

/// The refusal of an operation `flavor` does not speak, before it runs:
/// an `invalid` error saying which contract it speaks and what that lacks.
pub fn unsupported(
    operation: Operation,
    needs: ContractVersion,
    flavor: ContractVersion,
) -> Option<Error> {
    (flavor < needs).then(|| {
        Error::invalid(format!(
            "this flavor speaks {flavor}: its secrets have one version and no history, labels \
             or soft delete, so it cannot do this `{operation}` (a flavor of {needs} can)"
        ))
    })
}

/// The trap an export of 0.2 would be on a 0.1 instance. Never reached:
/// `call_async` refuses such a call with [`unsupported`] before it runs.
fn not_in_v0_1(operation: Operation) -> wasmtime::Error {
    wasmtime::Error::msg(format!("{operation} called on a flavor of contract 0.1"))
}

/// An export of the `flavor` world (of either contract version), with its
/// arguments.
pub trait Export {
    /// What the guest returns on success, before checking.
    type Raw;
    /// What the host hands on, checked.
    type Answer;
    const OPERATION: Operation;
    /// The first contract version with this call: its operation's, or
    /// later where the call asks more of it (a version, a check).
    const SINCE: ContractVersion = Self::OPERATION.since();

    /// Secret values this call hands the flavor (to be masked in its output).
    fn given_values(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Secret values in a checked answer (to be masked in its output).
    fn answer_values(answer: &Self::Answer) -> Vec<&str> {
        let _ = answer;
        Vec::new()
    }

    /// The secret this call is about, if one: what the host names in a
    /// message it writes in place of the flavor's own.
    fn subject(&self) -> Option<&str> {
        None
    }

    /// Calls the export on `flavor`. The outer error is a trap.
    fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> impl Future<Output = Returned<Self::Raw>> + Send;

    /// Checks what the flavor returned.
    fn check(&self, raw: Self::Raw) -> Result<Self::Answer>;
}

fn secret_values(secret: &Secret) -> Vec<&str> {
    secret.values().values().map(String::as_str).collect()
}

/// `metadata.info()`.
pub struct Info;

impl Export for Info {
    type Raw = (contract::v0_1::FlavorInfo, ContractVersion);
    type Answer = FlavorDescription;
    const OPERATION: Operation = Operation::Info;

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Self::Raw> {
        Ok(Ok(match flavor {
            FlavorInstance::V0_1(f) => (
                f.flavorbox_secrets_metadata().call_info(store).await?,
                ContractVersion::V0_1,
            ),
            FlavorInstance::V0_2(f) => (
                contract::info_from_v0_2(f.flavorbox_secrets_metadata().call_info(store).await?),
                ContractVersion::V0_2,
            ),
        }))
    }

    fn check(&self, (info, contract): Self::Raw) -> Result<FlavorDescription> {
        contract::check_info(info, contract)
    }
}

/// `register-secret(secret)`.
pub struct RegisterSecret<'a>(pub &'a Secret);

impl Export for RegisterSecret<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::RegisterSecret;

    fn given_values(&self) -> Vec<&str> {
        secret_values(self.0)
    }

    fn subject(&self) -> Option<&str> {
        Some(self.0.name())
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        match flavor {
            FlavorInstance::V0_1(f) => from_v0_1(
                f.flavorbox_secrets_secrets_manager()
                    .call_register_secret(store, &contract::to_v0_1(self.0))
                    .await,
            ),
            FlavorInstance::V0_2(f) => from_v0_2(
                f.flavorbox_secrets_secrets_manager()
                    .call_register_secret(store, &contract::to_v0_2(self.0), &Vec::new())
                    .await,
            ),
        }
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `get-secret(name)`.
pub struct GetSecret<'a>(pub &'a str);

impl Export for GetSecret<'_> {
    type Raw = contract::v0_1::WitSecret;
    type Answer = Secret;
    const OPERATION: Operation = Operation::GetSecret;

    fn answer_values(answer: &Secret) -> Vec<&str> {
        secret_values(answer)
    }

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Self::Raw> {
        match flavor {
            FlavorInstance::V0_1(f) => from_v0_1(
                f.flavorbox_secrets_secrets_manager()
                    .call_get_secret(store, self.0)
                    .await,
            ),
            FlavorInstance::V0_2(f) => from_v0_2(
                f.flavorbox_secrets_secrets_manager()
                    .call_get_secret(store, self.0, None)
                    .await,
            )
            .map(|r| r.map(|got| contract::secret_from_v0_2(got.secret))),
        }
    }

    fn check(&self, raw: Self::Raw) -> Result<Secret> {
        contract::check_secret(self.0, raw)
    }
}

/// `get-all-secret-keys()`.
pub struct GetAllSecretKeys;

impl Export for GetAllSecretKeys {
    type Raw = Vec<String>;
    type Answer = Vec<String>;
    const OPERATION: Operation = Operation::GetAllSecretKeys;

    async fn invoke(
        &self,
        flavor: &FlavorInstance,
        store: &mut Store<CallState>,
    ) -> Returned<Vec<String>> {
        match flavor {
            FlavorInstance::V0_1(f) => from_v0_1(
                f.flavorbox_secrets_secrets_manager()
                    .call_get_all_secret_keys(store)
                    .await,
            ),
            FlavorInstance::V0_2(f) => from_v0_2(
                f.flavorbox_secrets_secrets_manager()
                    .call_get_all_secret_keys(store)
                    .await,
            ),
        }
    }

    fn check(&self, raw: Vec<String>) -> Result<Vec<String>> {
        contract::check_listing(raw)
    }
}

/// `update-secret(secret)`.
pub struct UpdateSecret<'a>(pub &'a Secret);

impl Export for UpdateSecret<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::UpdateSecret;

    fn given_values(&self) -> Vec<&str> {
        secret_values(self.0)
    }

    fn subject(&self) -> Option<&str> {
        Some(self.0.name())
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        match flavor {
            FlavorInstance::V0_1(f) => from_v0_1(
                f.flavorbox_secrets_secrets_manager()
                    .call_update_secret(store, &contract::to_v0_1(self.0))
                    .await,
            ),
            // The version written is of no use to a 0.1-era caller; one
            // that wants it asks with `UpdateSecretIf`.
            FlavorInstance::V0_2(f) => from_v0_2(
                f.flavorbox_secrets_secrets_manager()
                    .call_update_secret(store, &contract::to_v0_2(self.0), None)
                    .await,
            )
            .map(|r| r.map(|_version| ())),
        }
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `delete-secret(name)`: on a 0.2 flavor a soft delete
/// (`delete-secret(name, purge: false)`), on a 0.1 flavor final.
pub struct DeleteSecret<'a>(pub &'a str);

impl Export for DeleteSecret<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::DeleteSecret;

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        delete(flavor, store, self.0, false).await
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `delete-secret(name, purge: true)`: the secret and its history gone
/// for good; on a 0.1 flavor its `delete-secret(name)`, which is final.
pub struct PurgeSecret<'a>(pub &'a str);

impl Export for PurgeSecret<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::DeleteSecret;

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        delete(flavor, store, self.0, true).await
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

async fn delete(
    flavor: &FlavorInstance,
    store: &mut Store<CallState>,
    name: &str,
    purge: bool,
) -> Returned<()> {
    match flavor {
        FlavorInstance::V0_1(f) => from_v0_1(
            f.flavorbox_secrets_secrets_manager()
                .call_delete_secret(store, name)
                .await,
        ),
        FlavorInstance::V0_2(f) => from_v0_2(
            f.flavorbox_secrets_secrets_manager()
                .call_delete_secret(store, name, purge)
                .await,
        ),
    }
}

/// `delete-all-secrets(force)`.
pub struct DeleteAllSecrets {
    pub force: bool,
}

impl Export for DeleteAllSecrets {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::DeleteAllSecrets;

    async fn invoke(&self, flavor: &FlavorInstance, store: &mut Store<CallState>) -> Returned<()> {
        match flavor {
            FlavorInstance::V0_1(f) => from_v0_1(
                f.flavorbox_secrets_secrets_manager()
                    .call_delete_all_secrets(store, self.force)
                    .await,
            ),
            FlavorInstance::V0_2(f) => from_v0_2(
                f.flavorbox_secrets_secrets_manager()
                    .call_delete_all_secrets(store, self.force)
                    .await,
            ),
        }
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}
