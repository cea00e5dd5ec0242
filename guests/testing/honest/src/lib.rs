//! Honest secrets-manager behaviour shared by the test flavors.
//!
//! Included by each test guest with
//! `#[path = ".../testing/honest/src/lib.rs"] mod honest;` after its
//! `wit_bindgen::generate!`, so it uses that crate's own bindings. The
//! semantics are those of the built-in `local` flavor (`already-exists`,
//! `not-found`, `delete-all-secrets(false)` refused with `invalid`), but each
//! secret is stored as JSON, `{"schema": "...", "values": [[k, v], ...]}`,
//! under the storage key `secrets/<name>`.

// Not every guest uses every helper.
#![allow(dead_code)]

use crate::flavorbox::secrets::storage;
use crate::flavorbox::secrets::types::{ConfigField, Error, FlavorInfo, Secret};
use serde::{Deserialize, Serialize};

/// Storage prefix of secret entries.
pub const PREFIX: &str = "secrets/";

/// The version every test flavor reports.
pub const VERSION: &str = "0.1.0";

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

pub fn register_secret(secret: Secret) -> Result<(), Error> {
    if exists(&secret.name)? {
        return Err(Error::AlreadyExists(format!(
            "secret `{}` already exists",
            secret.name
        )));
    }
    storage::set(&entry_key(&secret.name), &encode(&secret))
}

pub fn get_secret(name: String) -> Result<Secret, Error> {
    match storage::get(&entry_key(&name))? {
        Some(bytes) => decode(&name, &bytes),
        None => Err(Error::NotFound(format!("secret `{name}` does not exist"))),
    }
}

pub fn get_all_secret_keys() -> Result<Vec<String>, Error> {
    Ok(storage::list_keys(PREFIX)?
        .into_iter()
        .filter_map(|key| key.strip_prefix(PREFIX).map(str::to_string))
        .collect())
}

pub fn update_secret(secret: Secret) -> Result<(), Error> {
    if !exists(&secret.name)? {
        return Err(Error::NotFound(format!(
            "secret `{}` does not exist",
            secret.name
        )));
    }
    storage::set(&entry_key(&secret.name), &encode(&secret))
}

pub fn delete_secret(name: String) -> Result<(), Error> {
    if storage::delete(&entry_key(&name))? {
        Ok(())
    } else {
        Err(Error::NotFound(format!("secret `{name}` does not exist")))
    }
}

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

/// Honest implementations of the named operations, for use inside
/// `impl secrets_manager::Guest`, so a test flavor spells out only the
/// operations where it misbehaves:
///
/// ```ignore
/// impl secrets_manager::Guest for Hostile {
///     fn get_secret(_name: String) -> Result<Secret, Error> { spin() }
///     honest::operations!(register_secret, get_all_secret_keys, update_secret,
///                         delete_secret, delete_all_secrets);
/// }
/// ```
#[allow(unused_macros)]
macro_rules! operations {
    ($($operation:ident),+ $(,)?) => {
        $( $crate::honest::operation!($operation); )+
    };
}

/// One honest operation; see [`operations`].
#[allow(unused_macros)]
macro_rules! operation {
    (register_secret) => {
        fn register_secret(
            secret: $crate::flavorbox::secrets::types::Secret,
        ) -> Result<(), $crate::flavorbox::secrets::types::Error> {
            $crate::honest::register_secret(secret)
        }
    };
    (get_secret) => {
        fn get_secret(
            name: String,
        ) -> Result<
            $crate::flavorbox::secrets::types::Secret,
            $crate::flavorbox::secrets::types::Error,
        > {
            $crate::honest::get_secret(name)
        }
    };
    (get_all_secret_keys) => {
        fn get_all_secret_keys() -> Result<Vec<String>, $crate::flavorbox::secrets::types::Error> {
            $crate::honest::get_all_secret_keys()
        }
    };
    (update_secret) => {
        fn update_secret(
            secret: $crate::flavorbox::secrets::types::Secret,
        ) -> Result<(), $crate::flavorbox::secrets::types::Error> {
            $crate::honest::update_secret(secret)
        }
    };
    (delete_secret) => {
        fn delete_secret(name: String) -> Result<(), $crate::flavorbox::secrets::types::Error> {
            $crate::honest::delete_secret(name)
        }
    };
    (delete_all_secrets) => {
        fn delete_all_secrets(force: bool) -> Result<(), $crate::flavorbox::secrets::types::Error> {
            $crate::honest::delete_all_secrets(force)
        }
    };
}

#[allow(unused_imports)]
pub(crate) use {operation, operations};
