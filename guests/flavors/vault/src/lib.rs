//! The `vault` flavor: HashiCorp Vault (or OpenBao) KV version 2 over HTTP,
//! through the host's `wasi:http/outgoing-handler`.
//!
//! One Vault secret per flavorbox secret at
//! `<mount>/data/<path>[/<namespace>]/<name>` (see `codec.rs`):
//! register-secret writes with `options.cas = 0` (so an existing secret is
//! `already-exists`, decided by Vault, not by a racy read first);
//! update-secret writes with `cas` = the current version; get-all-secret-keys
//! lists the metadata (a path that does not exist is an empty list);
//! delete-secret and delete-all-secrets delete the metadata, i.e. every
//! version. Auth is a token or AppRole (`client.rs`).
//!
//! Guards against: namespaces seeing each other's secrets (every name is
//! checked to be one path segment; listings skip folders);
//! `delete-all-secrets(false)` deleting anything and a half-finished
//! `delete-all` hiding how far it got (both `flavor_kit::bulk`); an update
//! resurrecting a secret whose current version was deleted by another tool.

mod client;
mod codec;
mod errors;
mod settings;

use flavor_kit::bulk;
use flavor_kit::exports::flavorbox::secrets::{metadata, secrets_manager};
use flavor_kit::http::Call;
use flavor_kit::{Error, FlavorInfo, Secret, names, zenml};
use serde_json::{Value, json};

use client::Client;

struct Vault;

impl secrets_manager::Guest for Vault {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        let client = Client::from_config()?;
        names::check(&secret.name)?;
        let body = json!({ "options": { "cas": 0 }, "data": codec::encode(&secret)? });
        let url = client.kv_url("data", Some(&secret.name));
        let op = format!("writing secret `{}`", secret.name);
        client.call(Call::post(&op, &url, &body).with_values(&zenml::values(&secret)))?;
        Ok(())
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        let client = Client::from_config()?;
        names::check(&name)?;
        let url = client.kv_url("data", Some(&name));
        let op = format!("reading secret `{name}`");
        let reply = client.call(Call::get(&op, &url))?;
        codec::decode(&name, &reply["data"]["data"])
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        let client = Client::from_config()?;
        list(&client)
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        let client = Client::from_config()?;
        names::check(&secret.name)?;
        let data = codec::encode(&secret)?;
        let version = current_version(&client, &secret.name)?;
        let body = json!({ "options": { "cas": version }, "data": data });
        let url = client.kv_url("data", Some(&secret.name));
        let op = format!("updating secret `{}`", secret.name);
        client.call(Call::post(&op, &url, &body).with_values(&zenml::values(&secret)))?;
        Ok(())
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        let client = Client::from_config()?;
        names::check(&name)?;
        // Deleting missing metadata succeeds in Vault: ask first, so a
        // missing secret is `not-found`.
        current_version(&client, &name)?;
        delete(&client, &name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        bulk::require_force(force)?;
        let client = Client::from_config()?;
        bulk::delete_each(&list(&client)?, |name| delete(&client, name))
    }
}

/// The current version of secret `name`; `not-found` when it does not
/// exist or its current version was deleted or destroyed.
fn current_version(client: &Client, name: &str) -> Result<u64, Error> {
    let url = client.kv_url("metadata", Some(name));
    let op = format!("reading the metadata of secret `{name}`");
    let reply = client.call(Call::get(&op, &url))?;
    let metadata = &reply["data"];
    let version = metadata["current_version"]
        .as_u64()
        .ok_or_else(|| errors::malformed(&op, "no current_version"))?;
    let current = &metadata["versions"][version.to_string()];
    let deleted = current["deletion_time"]
        .as_str()
        .is_some_and(|t| !t.is_empty());
    if version == 0 || deleted || current["destroyed"] == Value::Bool(true) {
        return Err(Error::NotFound(format!(
            "secret `{name}`: its current version was deleted"
        )));
    }
    Ok(version)
}

fn delete(client: &Client, name: &str) -> Result<(), Error> {
    let url = client.kv_url("metadata", Some(name));
    client.call(Call::delete(&format!("deleting secret `{name}`"), &url))?;
    Ok(())
}

/// Every secret of this manager, sorted. Vault lists a whole folder in
/// one reply (there is no paging in KV version 2).
fn list(client: &Client) -> Result<Vec<String>, Error> {
    let mut url = client.kv_url("metadata", None);
    url.path.push('/');
    url.query = "list=true".to_string();
    let reply = match client.call(Call::get("listing secrets", &url)) {
        Ok(reply) => reply,
        // Nothing was ever written under the prefix.
        Err(Error::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let keys = reply["data"]["keys"]
        .as_array()
        .ok_or_else(|| errors::malformed("listing secrets", "no data.keys"))?;
    codec::names(keys)
}

impl metadata::Guest for Vault {
    fn info() -> FlavorInfo {
        settings::ABOUT.info()
    }
}

flavor_kit::export_flavor!(Vault);
