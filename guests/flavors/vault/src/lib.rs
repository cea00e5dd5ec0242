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
mod kv;
mod settings;
mod v0_2;

use flavor_kit::http::Call;
use flavor_kit::manager::Manager;
use flavor_kit::settings::About;
use flavor_kit::{Error, Secret, names, zenml};
use serde_json::{Value, json};

use client::Client;
use settings::Settings;

impl Manager for Client {
    const ABOUT: About = settings::ABOUT;
    /// The name says it all.
    type Listed = ();

    fn from_config() -> Result<Client, Error> {
        Ok(Client {
            settings: Settings::load()?,
        })
    }

    fn register_secret(&self, secret: Secret) -> Result<(), Error> {
        names::check(&secret.name)?;
        let body = json!({ "options": { "cas": 0 }, "data": codec::encode(&secret)? });
        self.write(&format!("writing secret `{}`", secret.name), &secret, &body)?;
        Ok(())
    }

    fn get_secret(&self, name: &str) -> Result<Secret, Error> {
        names::check(name)?;
        let url = self.kv_url("data", Some(name));
        let op = format!("reading secret `{name}`");
        let reply = self.call(Call::get(&op, &url))?;
        codec::decode(name, &reply["data"]["data"])
    }

    fn update_secret(&self, secret: Secret) -> Result<(), Error> {
        names::check(&secret.name)?;
        let data = codec::encode(&secret)?;
        let version = current_version(self, &secret.name)?;
        let body = json!({ "options": { "cas": version }, "data": data });
        self.write(
            &format!("updating secret `{}`", secret.name),
            &secret,
            &body,
        )?;
        Ok(())
    }

    fn delete_secret(&self, name: &str) -> Result<(), Error> {
        names::check(name)?;
        // Deleting missing metadata succeeds in Vault: ask first, so a
        // missing secret is `not-found`.
        current_version(self, name)?;
        self.delete_listed(name, &())
    }

    /// Vault lists a whole folder in one reply (there is no paging in KV
    /// version 2).
    fn list(&self) -> Result<Vec<(String, ())>, Error> {
        let mut url = self.kv_url("metadata", None);
        url.path.push('/');
        url.query = "list=true".to_string();
        let reply = match self.call(Call::get("listing secrets", &url)) {
            Ok(reply) => reply,
            // Nothing was ever written under the prefix.
            Err(Error::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let keys = reply["data"]["keys"]
            .as_array()
            .ok_or_else(|| errors::malformed("listing secrets", "no data.keys"))?;
        Ok(codec::names(keys)?.into_iter().map(|n| (n, ())).collect())
    }

    fn delete_listed(&self, name: &str, _: &()) -> Result<(), Error> {
        let url = self.kv_url("metadata", Some(name));
        self.call(Call::delete(&format!("deleting secret `{name}`"), &url))?;
        Ok(())
    }
}

impl Client {
    /// Writes KV `body` (data and check-and-set option) for `secret`;
    /// returns Vault's reply (`data.version`: the version written).
    fn write(&self, op: &str, secret: &Secret, body: &Value) -> Result<Value, Error> {
        let url = self.kv_url("data", Some(&secret.name));
        self.call(Call::post(op, &url, body).with_values(&zenml::values(secret)))
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

flavor_kit::export_manager!(Client);
