//! Honest secrets-manager behaviour shared by the test flavors of
//! `guests/testing`, and the bindings of the `flavor` world they export.
//!
//! The semantics are those of the built-in `local` flavor and of
//! `wit/0.1/flavor.wit` (`already-exists`, `not-found`,
//! `delete-all-secrets(false)` refused with `invalid`), but each secret is
//! stored as JSON, `{"schema": "...", "values": [[k, v], ...]}`, under the
//! storage key `secrets/<name>`.
//!
//! A test flavor implements [`Flavor`], overriding only the operations where
//! it misbehaves (every other one is the honest function of the same name in
//! this crate), and exports it with [`export_flavor!`]:
//!
//! ```ignore
//! struct HostileLoop;
//!
//! impl honest::Flavor for HostileLoop {
//!     const NAME: &'static str = "hostile_loop";
//!     const DESCRIPTION: &'static str = "Every get-secret spins forever.";
//!
//!     fn get_secret(_name: String) -> Result<honest::Secret, honest::Error> {
//!         loop {}
//!     }
//! }
//!
//! honest::export_flavor!(HostileLoop);
//! ```
//!
//! wit-bindgen's bindings are per crate, so this crate generates them once
//! for everyone (types, imports, and the export glue behind a public
//! `export_bindings!` macro); a test flavor crate generates none of its own
//! for the `flavor` world.

use serde::{Deserialize, Serialize};

wit_bindgen::generate!({
    path: "../../../wit/0.1",
    world: "flavor",
    // The export glue is instantiated in the test flavor crates, through
    // `export_flavor!`; `honest::export_bindings!(T)` also works for a type
    // that implements the generated `Guest` traits itself.
    pub_export_macro: true,
    export_macro_name: "export_bindings",
    default_bindings_module: "honest",
});

pub use flavorbox::secrets::types::{ConfigField, Error, FlavorInfo, Secret};
pub use flavorbox::secrets::{config, log, storage};

/// Storage prefix of secret entries.
pub const PREFIX: &str = "secrets/";

/// The version every test flavor reports.
pub const VERSION: &str = "0.1.0";

/// A test flavor: the exports of the `flavor` world, each honest unless
/// overridden. Exported with [`export_flavor!`].
pub trait Flavor {
    /// The name `info()` reports; [`export_flavor!`] checks that it is the
    /// crate's name.
    const NAME: &'static str;
    /// The description `info()` reports.
    const DESCRIPTION: &'static str;

    /// `info()`: [`NAME`](Self::NAME), [`DESCRIPTION`](Self::DESCRIPTION),
    /// no config, capability `storage` (see [`info`]).
    fn info() -> FlavorInfo {
        info(Self::NAME, Self::DESCRIPTION, Vec::new())
    }

    fn register_secret(secret: Secret) -> Result<(), Error> {
        register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        get_secret(name)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        get_all_secret_keys()
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        update_secret(secret)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        delete_secret(name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        delete_all_secrets(force)
    }
}

/// Exports the test flavor `$flavor` (a type implementing [`Flavor`]) as the
/// component's `flavor` world.
///
/// `export_flavor!(T)` also fails the build unless `T::NAME` is the crate's
/// name, so a test refers to a guest and its flavor by one name.
/// `export_flavor!(T, any_name)` skips that check, for a flavor whose
/// attack is its name.
#[macro_export]
macro_rules! export_flavor {
    ($flavor:ident) => {
        const _: () = assert!(
            $crate::same_name(<$flavor as $crate::Flavor>::NAME, env!("CARGO_CRATE_NAME")),
            concat!(
                "the flavor name (",
                stringify!($flavor),
                "::NAME) must be the crate name `",
                env!("CARGO_CRATE_NAME"),
                "`"
            ),
        );
        $crate::export_flavor!($flavor, any_name);
    };
    ($flavor:ident, any_name) => {
        const _: () = {
            // The generated export macro takes a type name, not a path.
            type HonestExport = $crate::Exported<$flavor>;
    $crate::export_bindings!(HonestExport with_types_in $crate);
        };
    };
}

/// The type [`export_flavor!`] exports: the generated `Guest` traits, each
/// call forwarded to the [`Flavor`] `T`.
#[doc(hidden)]
pub struct Exported<T>(core::marker::PhantomData<T>);

impl<T: Flavor> exports::flavorbox::secrets::secrets_manager::Guest for Exported<T> {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        T::register_secret(secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        T::get_secret(name)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        T::get_all_secret_keys()
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        T::update_secret(secret)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        T::delete_secret(name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        T::delete_all_secrets(force)
    }
}

impl<T: Flavor> exports::flavorbox::secrets::metadata::Guest for Exported<T> {
    fn info() -> FlavorInfo {
        T::info()
    }
}

/// Whether `a` and `b` are the same string (`==` is not `const`).
#[doc(hidden)]
pub const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// How a secret is stored (its name is the storage key).
#[derive(Serialize, Deserialize)]
struct Stored {
    schema: String,
    values: Vec<(String, String)>,
}

/// The storage key of the secret `name`.
pub fn entry_key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// The JSON encoding of `secret`.
pub fn encode(secret: &Secret) -> Vec<u8> {
    let stored = Stored {
        schema: secret.schema.clone(),
        values: secret.values.clone(),
    };
    serde_json::to_vec(&stored).expect("a secret always encodes as JSON")
}

/// Decodes the stored entry of the secret `name`.
pub fn decode(name: &str, bytes: &[u8]) -> Result<Secret, Error> {
    let stored: Stored = serde_json::from_slice(bytes)
        .map_err(|e| Error::Backend(format!("stored secret `{name}` is corrupt: {e}")))?;
    Ok(Secret {
        name: name.to_string(),
        schema: stored.schema,
        values: stored.values,
    })
}

/// The secret `name` of schema `arbitrary` holding `values`.
pub fn arbitrary(name: String, values: Vec<(String, String)>) -> Secret {
    Secret {
        name,
        schema: "arbitrary".to_string(),
        values,
    }
}

/// `info()` of a test flavor: version 0.1.0, capability `storage`.
pub fn info(name: &str, description: &str, config: Vec<ConfigField>) -> FlavorInfo {
    FlavorInfo {
        name: name.to_string(),
        version: VERSION.to_string(),
        description: description.to_string(),
        config,
        capabilities: vec!["storage".to_string()],
    }
}

fn exists(name: &str) -> Result<bool, Error> {
    Ok(storage::get(&entry_key(name))?.is_some())
}

/// Stores `secret`; `already-exists` if its name is taken.
pub fn register_secret(secret: Secret) -> Result<(), Error> {
    if exists(&secret.name)? {
        return Err(Error::AlreadyExists(format!(
            "secret `{}` already exists",
            secret.name
        )));
    }
    storage::set(&entry_key(&secret.name), &encode(&secret))
}

/// The secret `name`; `not-found` if there is none.
pub fn get_secret(name: String) -> Result<Secret, Error> {
    match storage::get(&entry_key(&name))? {
        Some(bytes) => decode(&name, &bytes),
        None => Err(Error::NotFound(format!("secret `{name}` does not exist"))),
    }
}

/// The names of all stored secrets.
pub fn get_all_secret_keys() -> Result<Vec<String>, Error> {
    Ok(storage::list_keys(PREFIX)?
        .into_iter()
        .filter_map(|key| key.strip_prefix(PREFIX).map(str::to_string))
        .collect())
}

/// Replaces the stored `secret`; `not-found` if there is none of its name.
pub fn update_secret(secret: Secret) -> Result<(), Error> {
    if !exists(&secret.name)? {
        return Err(Error::NotFound(format!(
            "secret `{}` does not exist",
            secret.name
        )));
    }
    storage::set(&entry_key(&secret.name), &encode(&secret))
}

/// Deletes the secret `name`; `not-found` if there is none.
pub fn delete_secret(name: String) -> Result<(), Error> {
    if storage::delete(&entry_key(&name))? {
        Ok(())
    } else {
        Err(Error::NotFound(format!("secret `{name}` does not exist")))
    }
}

/// Deletes every secret; with `force = false`, refuses with `invalid`.
pub fn delete_all_secrets(force: bool) -> Result<(), Error> {
    if !force {
        return Err(Error::Invalid(
            "deleting all secrets needs force = true".to_string(),
        ));
    }
    for key in storage::list_keys(PREFIX)? {
        storage::delete(&key)?;
    }
    Ok(())
}
