//! One type per export of the `flavor` world, each knowing how to call its
//! export on an instance and how to check the answer.
//!
//! Every export has its own answer type ([`Export::Answer`]), so a caller of
//! `get-secret` gets a [`Secret`] and nothing else can come back: there is
//! no request/response enum to match, and no arm that "cannot happen".

use wasmtime::Store;

use super::state::CallState;
use crate::contract::bindings::{Flavor, WitError};
use crate::contract::{self, FlavorDescription, Operation};
use crate::error::Result;
use crate::secret::Secret;

/// An export of the `flavor` world, with its arguments.
pub trait Export {
    /// What the guest returns on success, before checking.
    type Raw;
    /// What the host hands on, checked.
    type Answer;
    const OPERATION: Operation;

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
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> impl Future<Output = wasmtime::Result<std::result::Result<Self::Raw, WitError>>> + Send;

    /// Checks what the flavor returned.
    fn check(&self, raw: Self::Raw) -> Result<Self::Answer>;
}

fn secret_values(secret: &Secret) -> Vec<&str> {
    secret.values().values().map(String::as_str).collect()
}

/// `metadata.info()`.
pub struct Info;

impl Export for Info {
    type Raw = contract::bindings::FlavorInfo;
    type Answer = FlavorDescription;
    const OPERATION: Operation = Operation::Info;

    async fn invoke(
        &self,
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<std::result::Result<Self::Raw, WitError>> {
        let info = flavor.flavorbox_secrets_metadata().call_info(store).await?;
        Ok(Ok(info))
    }

    fn check(&self, raw: Self::Raw) -> Result<FlavorDescription> {
        contract::check_info(raw)
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

    async fn invoke(
        &self,
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<std::result::Result<(), WitError>> {
        let manager = flavor.flavorbox_secrets_secrets_manager();
        manager
            .call_register_secret(store, &contract::to_wit(self.0))
            .await
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `get-secret(name)`.
pub struct GetSecret<'a>(pub &'a str);

impl Export for GetSecret<'_> {
    type Raw = contract::bindings::WitSecret;
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
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<std::result::Result<Self::Raw, WitError>> {
        let manager = flavor.flavorbox_secrets_secrets_manager();
        manager.call_get_secret(store, self.0).await
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
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<std::result::Result<Vec<String>, WitError>> {
        let manager = flavor.flavorbox_secrets_secrets_manager();
        manager.call_get_all_secret_keys(store).await
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

    async fn invoke(
        &self,
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<std::result::Result<(), WitError>> {
        let manager = flavor.flavorbox_secrets_secrets_manager();
        manager
            .call_update_secret(store, &contract::to_wit(self.0))
            .await
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}

/// `delete-secret(name)`.
pub struct DeleteSecret<'a>(pub &'a str);

impl Export for DeleteSecret<'_> {
    type Raw = ();
    type Answer = ();
    const OPERATION: Operation = Operation::DeleteSecret;

    fn subject(&self) -> Option<&str> {
        Some(self.0)
    }

    async fn invoke(
        &self,
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<std::result::Result<(), WitError>> {
        let manager = flavor.flavorbox_secrets_secrets_manager();
        manager.call_delete_secret(store, self.0).await
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
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

    async fn invoke(
        &self,
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<std::result::Result<(), WitError>> {
        let manager = flavor.flavorbox_secrets_secrets_manager();
        manager.call_delete_all_secrets(store, self.force).await
    }

    fn check(&self, (): ()) -> Result<()> {
        Ok(())
    }
}
