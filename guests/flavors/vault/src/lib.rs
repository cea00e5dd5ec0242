//! The `vault` flavor: HashiCorp Vault (or OpenBao) KV version 2 over HTTP,
//! through the host's `wasi:http/outgoing-handler`. It speaks contract 0.2
//! (`v0_2.rs`, which the host uses) and 0.1 (here, for hosts that know only
//! 0.1), on the same layout.
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
//! Contract 0.2 on KV version 2, where the two differ:
//! - Versions are KV's numbers. KV forgets versions beyond the mount's or
//!   secret's `max_versions` (default 10): they are no longer listed and
//!   read as `not-found`, as the contract allows; `created` stays the
//!   secret's first write. A purged name written again starts at 1 in both.
//! - Soft-deleted means the head version (`current_version`) is deleted;
//!   flavorbox deletes only the head (`delete/<path>` of that version) and
//!   restores it (`undelete`). An older version another tool deleted stays
//!   `previous` but reads as `not-found` (the contract has no state for
//!   it); a head another tool destroyed makes the secret soft-deleted for
//!   good (`restore-secret` is `invalid`, purge it). A deletion the
//!   mount's setting delete_version_after scheduled counts from its time
//!   on (`kv.rs`).
//! - KV has no soft-delete time for the secret or record of a restore or a
//!   destroy: `updated` is the latest of `updated_time`, version times and
//!   deletion times, and a restore or destroy writes the custom metadata
//!   back unchanged so that Vault records it.
//! - The schema of a soft-deleted secret: Vault hides the head's data, so
//!   metadata reports the newest readable version's schema (`arbitrary`
//!   if none is readable).
//! - Labels are `custom_metadata`; entries the contract cannot carry (set
//!   by other tools) are left out of answers and dropped by `set-labels`.
//!   Registering with labels is two writes: if the second fails, the
//!   secret stands without labels and the error says so.
//! - KV records no author: `author` is `none`.
//! - Listings: OpenBao's `LIST detailed-metadata` gives every secret's
//!   metadata in one request; HashiCorp Vault needs one read per secret,
//!   within the manager's HTTP request cap. `list-secrets` reads each
//!   secret's data once more for its schema.
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
