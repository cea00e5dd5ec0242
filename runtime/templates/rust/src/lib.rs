//! {{name}}: a secrets-manager flavor that keeps its secrets in the storage
//! flavorbox gives each secrets manager (ZenML's BaseSecretsManager, in Rust).
//!
//! Build it with `flavorbox flavor build .`, check it with `flavorbox
//! evaluate {{name}}.wasm`, then `flavorbox flavor register {{name}}.wasm
//! --grant storage`.

wit_bindgen::generate!({
    path: "wit",
    world: "flavor",
});

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::storage;
use flavorbox::secrets::types::{ConfigField, Error, FlavorInfo, Secret};
use serde_json::{Map, Value, json};

/// One storage key per secret: `secret/<name>` -> {"schema": .., "values": {..}}.
const PREFIX: &str = "secret/";

struct Flavor;

fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

fn write(secret: &Secret) -> Result<(), Error> {
    let values: Map<String, Value> = secret
        .values
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let entry = json!({ "schema": secret.schema, "values": values });
    storage::set(&key(&secret.name), entry.to_string().as_bytes())
}

fn read(name: &str) -> Result<Option<Secret>, Error> {
    let Some(bytes) = storage::get(&key(name))? else {
        return Ok(None);
    };
    let corrupt = || Error::Backend(format!("stored secret `{name}` is corrupt"));
    let entry: Value = serde_json::from_slice(&bytes).map_err(|_| corrupt())?;
    let schema = entry["schema"].as_str().ok_or_else(corrupt)?.to_string();
    let mut values = Vec::new();
    for (k, v) in entry["values"].as_object().ok_or_else(corrupt)? {
        values.push((k.clone(), v.as_str().ok_or_else(corrupt)?.to_string()));
    }
    Ok(Some(Secret {
        name: name.to_string(),
        schema,
        values,
    }))
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("secret `{name}` does not exist"))
}

impl secrets_manager::Guest for Flavor {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        if storage::get(&key(&secret.name))?.is_some() {
            return Err(Error::AlreadyExists(format!(
                "secret `{}` already exists",
                secret.name
            )));
        }
        write(&secret)
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        read(&name)?.ok_or_else(|| not_found(&name))
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        Ok(storage::list_keys(PREFIX)?
            .into_iter()
            .filter_map(|k| k.strip_prefix(PREFIX).map(str::to_string))
            .collect())
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        if storage::get(&key(&secret.name))?.is_none() {
            return Err(not_found(&secret.name));
        }
        write(&secret)
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        if storage::delete(&key(&name))? {
            Ok(())
        } else {
            Err(not_found(&name))
        }
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        if !force {
            return Err(Error::Invalid(
                "deleting all secrets needs force = true".to_string(),
            ));
        }
        for k in storage::list_keys(PREFIX)? {
            storage::delete(&k)?;
        }
        Ok(())
    }
}

impl metadata::Guest for Flavor {
    fn info() -> FlavorInfo {
        FlavorInfo {
            name: "{{name}}".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Secrets kept in flavorbox's per-manager storage.".to_string(),
            config: Vec::<ConfigField>::new(),
            capabilities: vec!["storage".to_string()],
        }
    }
}

export!(Flavor);
