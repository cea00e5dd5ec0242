//! A secrets manager on one backend, as a flavor implements it: made from
//! this manager's configuration at the start of every call, then asked for
//! one operation. [`export_manager!`](crate::export_manager) exports it as
//! the `flavor` world and does what every flavor does alike: `info()` from
//! [`Manager::ABOUT`], the names of a listing, and `delete-all-secrets`.
//!
//! Guards against: `delete-all-secrets(false)` deleting anything (refused
//! before the configuration is even read); a half-finished deletion of all
//! secrets hiding how far it got, and a secret someone else deleted
//! meanwhile failing it ([`bulk::delete_each`]); an operation running on a
//! configuration that was not checked (each starts from
//! [`Manager::from_config`]).

use core::marker::PhantomData;

use crate::exports::flavorbox::secrets::{metadata, secrets_manager};
use crate::settings::About;
use crate::{Error, FlavorInfo, Secret, bulk};

/// The operations of the `secrets-manager` interface on one backend.
/// Each runs on a manager made by [`from_config`](Manager::from_config)
/// for that call alone.
pub trait Manager: Sized {
    /// What `info()` reports.
    const ABOUT: About;

    /// What a listing holds of a secret besides its flavorbox name: enough
    /// to delete it without looking it up again (its backend name or id,
    /// or `()`).
    type Listed;

    /// The manager of this call, from its checked configuration.
    fn from_config() -> Result<Self, Error>;

    /// Creates `secret`; `already-exists` if its name is taken.
    fn register_secret(&self, secret: Secret) -> Result<(), Error>;

    /// The secret `name`; `not-found` if there is none.
    fn get_secret(&self, name: &str) -> Result<Secret, Error>;

    /// Replaces the key-values and schema of `secret`; `not-found` if
    /// there is none of its name.
    fn update_secret(&self, secret: Secret) -> Result<(), Error>;

    /// Deletes the secret `name`; `not-found` if there is none.
    fn delete_secret(&self, name: &str) -> Result<(), Error>;

    /// Every secret of this manager, as (flavorbox name, listed), sorted.
    fn list(&self) -> Result<Vec<(String, Self::Listed)>, Error>;

    /// Deletes the secret `name` that [`list`](Manager::list) gave as
    /// `listed`; `not-found` if it is gone.
    fn delete_listed(&self, name: &str, listed: &Self::Listed) -> Result<(), Error>;
}

/// Exports the [`Manager`] `$manager` (a type name) as the component's
/// `flavor` world.
#[macro_export]
macro_rules! export_manager {
    ($manager:ident) => {
        const _: () = {
            // The generated export macro takes a type name, not a path.
            type ManagerExport = $crate::manager::Exported<$manager>;
    $crate::export_flavor!(ManagerExport with_types_in $crate);
        };
    };
}

/// The type [`export_manager!`](crate::export_manager) exports: the
/// generated `Guest` traits, each call forwarded to a fresh `M`.
#[doc(hidden)]
pub struct Exported<M>(PhantomData<M>);

impl<M: Manager> secrets_manager::Guest for Exported<M> {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        M::from_config()?.register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        M::from_config()?.get_secret(&name)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        Ok(names(M::from_config()?.list()?))
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        M::from_config()?.update_secret(secret)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        M::from_config()?.delete_secret(&name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        bulk::require_force(force)?;
        let manager = M::from_config()?;
        bulk::delete_each(&manager.list()?, |(name, listed)| {
            manager.delete_listed(name, listed)
        })
    }
}

impl<M: Manager> metadata::Guest for Exported<M> {
    fn info() -> FlavorInfo {
        M::ABOUT.info()
    }
}

/// The flavorbox names of a listing.
fn names<T>(listed: Vec<(String, T)>) -> Vec<String> {
    listed.into_iter().map(|(name, _)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_gives_its_names_in_order() {
        let listed = vec![("a".to_string(), 7), ("b".to_string(), 3)];
        assert_eq!(names(listed), ["a", "b"]);
        assert!(names::<()>(Vec::new()).is_empty());
    }
}
