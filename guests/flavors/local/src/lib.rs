//! The built-in `local` flavor.
//!
//! Each secret is one entry of host storage, `secrets/<name>`, holding the
//! ZenML `LocalSecretsManager` encoding: a YAML mapping of every key to its
//! base64-encoded value, plus the schema name under `zenml_schema_name`. As in
//! ZenML, that key is reserved and cannot be used as a secret key.
//!
//! The flavor trusts nothing it reads back: an entry that is not such a
//! mapping is reported as a `backend` error naming the secret, never guessed at.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_norway::{Mapping, Value};

wit_bindgen::generate!({
    path: "../../../wit/0.1",
    world: "flavor",
});

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::storage;
use flavorbox::secrets::types::{ConfigField, Error, FlavorInfo, Secret};

mod codec;
mod config;
#[cfg(test)]
mod memory;
mod store;
mod versions;

/// Storage prefix of secret entries.
const PREFIX: &str = "secrets/";
/// The key ZenML's local secrets manager keeps the schema name under.
const ZENML_SCHEMA_NAME: &str = "zenml_schema_name";

struct Local;

fn entry_key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

fn encode(secret: &Secret) -> Result<Vec<u8>, Error> {
    let mut mapping = Mapping::new();
    for (key, value) in &secret.values {
        if key == ZENML_SCHEMA_NAME {
            return Err(Error::Invalid(format!(
                "key `{ZENML_SCHEMA_NAME}` is reserved by the local flavor"
            )));
        }
        mapping.insert(Value::from(key.as_str()), Value::from(BASE64.encode(value)));
    }
    mapping.insert(
        Value::from(ZENML_SCHEMA_NAME),
        Value::from(secret.schema.as_str()),
    );
    serde_norway::to_string(&mapping)
        .map(String::into_bytes)
        .map_err(|e| Error::Backend(format!("cannot encode secret: {e}")))
}

fn decode(name: &str, bytes: &[u8]) -> Result<Secret, Error> {
    let corrupt = |why: &str| Error::Backend(format!("stored secret `{name}` is corrupt: {why}"));
    let mapping: Mapping =
        serde_norway::from_slice(bytes).map_err(|_| corrupt("not a YAML mapping"))?;
    let mut schema = None;
    let mut values = Vec::with_capacity(mapping.len());
    for (key, value) in mapping {
        let (Value::String(key), Value::String(value)) = (key, value) else {
            return Err(corrupt("a key or value is not a string"));
        };
        if key == ZENML_SCHEMA_NAME {
            schema = Some(value);
            continue;
        }
        let decoded = BASE64
            .decode(value.as_bytes())
            .map_err(|_| corrupt("a value is not base64"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| corrupt("a value is not UTF-8"))?;
        values.push((key, decoded));
    }
    let schema = schema.ok_or_else(|| corrupt("the schema name is missing"))?;
    Ok(Secret {
        name: name.to_string(),
        schema,
        values,
    })
}

fn exists(name: &str) -> Result<bool, Error> {
    Ok(storage::get(&entry_key(name))?.is_some())
}

impl secrets_manager::Guest for Local {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        if exists(&secret.name)? {
            return Err(Error::AlreadyExists(format!(
                "secret `{}` already exists",
                secret.name
            )));
        }
        storage::set(&entry_key(&secret.name), &encode(&secret)?)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        match storage::get(&entry_key(&name))? {
            Some(bytes) => decode(&name, &bytes),
            None => Err(Error::NotFound(format!("secret `{name}` does not exist"))),
        }
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        Ok(storage::list_keys(PREFIX)?
            .into_iter()
            .filter_map(|key| key.strip_prefix(PREFIX).map(str::to_string))
            .collect())
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        if !exists(&secret.name)? {
            return Err(Error::NotFound(format!(
                "secret `{}` does not exist",
                secret.name
            )));
        }
        storage::set(&entry_key(&secret.name), &encode(&secret)?)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        if storage::delete(&entry_key(&name))? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("secret `{name}` does not exist")))
        }
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
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
}

impl metadata::Guest for Local {
    fn info() -> FlavorInfo {
        FlavorInfo {
            name: "local".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Secrets in the embedded store of this flavorbox home, \
                          as ZenML LocalSecretsManager YAML with base64 values."
                .to_string(),
            config: Vec::<ConfigField>::new(),
            capabilities: vec!["storage".to_string()],
        }
    }
}

export!(Local);
