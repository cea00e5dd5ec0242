//! Contract 0.2 (`wit/0.2/flavor.wit`) on KV version 2's own versions:
//! a flavorbox version is a KV version (`data/<path>?version=N`); the
//! history is the metadata endpoint's `versions`; check-and-set is KV's
//! `options.cas` (a mismatch is `conflict`); a soft delete is
//! `delete/<path>` of the head version, `restore-secret` its `undelete`;
//! `destroy-versions` is `destroy/<path>`; a purge deletes the metadata
//! (every version); labels are `custom_metadata` (`kv.rs`). The layout of
//! each version's data is 0.1's (`codec.rs`), so a secret the 0.1 flavor
//! wrote reads as its KV history.
//!
//! The flavor-kit core (HTTP, settings, tokens, errors) speaks contract
//! 0.1's types and imports, which the host links for every flavor; this
//! module generates 0.2's bindings for the exports only and converts at
//! the boundary (both `flavor_kit::contract_0_2!`). The component exports both contracts (the host takes the
//! newest: 0.2); its 0.1 exports are `lib.rs`.
//!
//! Guards against: a stale check-and-set write landing (Vault decides it
//! atomically; a mismatch seen first writes nothing either); a write, label
//! or read by number reaching a soft-deleted secret (each reads the
//! metadata first); a metadata path without versions, or one deleted
//! meanwhile, breaking a listing (left out); `updated` going backwards after
//! a restore or destroy, which Vault does not record as an update (the
//! custom metadata is written back unchanged, which bumps `updated_time`);
//! `validate-config` reaching for the network or storage (it only checks
//! the config's shape, `settings.rs`).

flavor_kit::contract_0_2!("crate::v0_2::bindings");

use bindings::exports::flavorbox::secrets::{metadata, secrets_manager};
use bindings::flavorbox::secrets::types::{
    Error, FlavorInfo, Secret, SecretHistory, SecretMetadata, VersionInfo, VersionState,
    VersionedSecret,
};
use flavor_kit::http::Call;
use flavor_kit::manager::Manager;
use flavor_kit::{bulk, names, zenml};
use serde_json::{Value, json};

use crate::client::Client;
use crate::kv::{self, KvMetadata, State};
use crate::{codec, errors};

/// How often an update without an expected version retries when another
/// writer's version lands between its read and its write.
const MAX_WRITE_ATTEMPTS: usize = 3;
/// The newest versions a history lists (the contract's limit).
const MAX_LISTED_VERSIONS: usize = 1000;

impl Client {
    /// The KV metadata of secret `name`; `not-found` if it has none or no
    /// version.
    fn metadata(&self, name: &str) -> Result<KvMetadata, flavor_kit::Error> {
        names::check(name)?;
        let url = self.kv_url("metadata", Some(name));
        let op = format!("reading the metadata of secret `{name}`");
        let reply = self.call(Call::get(&op, &url))?;
        KvMetadata::parse(&op, name, &reply["data"])
    }

    /// The metadata of a secret that is not soft-deleted at `now`.
    fn live_metadata(&self, name: &str, now: u64) -> Result<KvMetadata, flavor_kit::Error> {
        let meta = self.metadata(name)?;
        if meta.deleted(now) {
            return Err(flavor_kit::Error::NotFound(format!(
                "secret `{name}`: its current version was deleted (restore it first)"
            )));
        }
        Ok(meta)
    }

    /// Version `version` of secret `name` (the latest when `None`), and its
    /// number.
    fn read(&self, name: &str, version: Option<u64>) -> Result<(Secret, u64), Error> {
        let mut url = self.kv_url("data", Some(name));
        if let Some(v) = version {
            url.query = format!("version={v}");
        }
        let op = format!("reading secret `{name}`");
        let reply = self.call(Call::get(&op, &url))?;
        let number = reply["data"]["metadata"]["version"]
            .as_u64()
            .ok_or_else(|| errors::malformed(&op, "no data.metadata.version"))?;
        let secret = codec::decode(name, &reply["data"]["data"])?;
        Ok((from_kit(secret), number))
    }

    /// The schema the metadata reports: the head version's, or for a
    /// soft-deleted secret (whose head Vault does not let us read) the
    /// newest readable version's, else the default schema.
    fn schema(&self, name: &str, meta: &KvMetadata, now: u64) -> Result<String, Error> {
        let readable = meta
            .versions
            .iter()
            .rev()
            .find(|v| meta.readable(v.number, now));
        match readable {
            Some(v) => Ok(self.read(name, Some(v.number))?.0.schema),
            None => Ok(zenml::DEFAULT_SCHEMA.to_string()),
        }
    }

    fn secret_metadata(
        &self,
        name: &str,
        meta: &KvMetadata,
        now: u64,
    ) -> Result<SecretMetadata, Error> {
        Ok(SecretMetadata {
            name: name.to_string(),
            schema: self.schema(name, meta, now)?,
            created: meta.created,
            updated: meta.updated(now),
            current_version: meta.head,
            deleted: meta.deleted(now),
            labels: meta.labels(),
        })
    }

    /// `POST <kind>/<name>` with `body` (`delete`, `undelete`, `destroy`,
    /// `metadata`).
    fn post(
        &self,
        kind: &str,
        name: &str,
        op: &str,
        body: &Value,
    ) -> Result<(), flavor_kit::Error> {
        let url = self.kv_url(kind, Some(name));
        self.call(Call::post(op, &url, body))?;
        Ok(())
    }

    /// Writes the custom metadata back unchanged: Vault then records the
    /// change just made (an undelete, a destroy) as the secret's update.
    fn touch(&self, name: &str, meta: &KvMetadata) -> Result<(), flavor_kit::Error> {
        let body = json!({ "custom_metadata": meta.custom });
        self.post(
            "metadata",
            name,
            &format!("touching secret `{name}`"),
            &body,
        )
    }

    /// Every secret's metadata, by name, soft-deleted or not; a path
    /// without versions (or deleted meanwhile) is left out. One
    /// `LIST detailed-metadata` where the server has it (OpenBao); else
    /// (HashiCorp Vault, or a token that may not use it) a `LIST` and one
    /// metadata read per secret, which the manager's request cap bounds.
    fn all_metadata(&self) -> Result<Vec<(String, KvMetadata)>, Error> {
        let op = "listing secrets with their metadata";
        let mut url = self.kv_url("detailed-metadata", None);
        url.path.push('/');
        url.query = "list=true".to_string();
        let reply = match self.call(Call::get(op, &url)) {
            Ok(reply) => reply,
            // 404 is also OpenBao's answer for an empty folder: the plain
            // listing then costs one more request and finds nothing.
            Err(
                flavor_kit::Error::NotFound(_)
                | flavor_kit::Error::Denied(_)
                | flavor_kit::Error::Backend(_),
            ) => return self.all_metadata_one_by_one(),
            Err(e) => return Err(e.into()),
        };
        let keys = reply["data"]["keys"]
            .as_array()
            .ok_or_else(|| errors::malformed(op, "no data.keys"))?;
        let mut all = Vec::new();
        for name in codec::names(keys)? {
            match KvMetadata::parse(op, &name, &reply["data"]["key_info"][&name]) {
                Ok(meta) => all.push((name, meta)),
                Err(flavor_kit::Error::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(all)
    }

    fn all_metadata_one_by_one(&self) -> Result<Vec<(String, KvMetadata)>, Error> {
        let mut all = Vec::new();
        for (name, ()) in self.list()? {
            match self.metadata(&name) {
                Ok(meta) => all.push((name, meta)),
                Err(flavor_kit::Error::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(all)
    }
}

fn client() -> Result<Client, Error> {
    Ok(Client::from_config()?)
}

struct Vault;

impl secrets_manager::Guest for Vault {
    fn register_secret(secret: Secret, labels: Vec<(String, String)>) -> Result<(), Error> {
        let client = client()?;
        let name = secret.name.clone();
        client.register_secret(to_kit(secret))?;
        if labels.is_empty() {
            return Ok(());
        }
        let body = json!({ "custom_metadata": kv::custom_metadata(&labels) });
        let labelled = client.post(
            "metadata",
            &name,
            &format!("labelling secret `{name}`"),
            &body,
        );
        Ok(labelled.map_err(|e| {
            flavor_kit::errors::map_message(e, |m| {
                format!("secret `{name}` was written without its labels: {m}")
            })
        })?)
    }

    fn get_secret(name: String, version: Option<u64>) -> Result<VersionedSecret, Error> {
        let client = client()?;
        names::check(&name)?;
        if let Some(v) = version {
            // Vault reads a version of a deleted secret, and version 0 as
            // the latest: the contract does neither.
            let meta = client.live_metadata(&name, kv::now())?;
            if !meta.readable(v, kv::now()) {
                return Err(Error::NotFound(format!(
                    "secret `{name}` has no readable version {v}"
                )));
            }
        }
        let (secret, version) = client.read(&name, version)?;
        Ok(VersionedSecret { secret, version })
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        let client = client()?;
        let now = kv::now();
        let all = client.all_metadata()?;
        Ok(all
            .into_iter()
            .filter(|(_, meta)| !meta.deleted(now))
            .map(|(name, _)| name)
            .collect())
    }

    /// One listing, then one read per secret listed (its schema is in its
    /// data, not its metadata).
    fn list_secrets(include_deleted: bool) -> Result<Vec<SecretMetadata>, Error> {
        let client = client()?;
        let now = kv::now();
        let mut listed = Vec::new();
        for (name, meta) in client.all_metadata()? {
            if include_deleted || !meta.deleted(now) {
                listed.push(client.secret_metadata(&name, &meta, now)?);
            }
        }
        Ok(listed)
    }

    fn get_metadata(name: String) -> Result<SecretMetadata, Error> {
        let client = client()?;
        let now = kv::now();
        let meta = client.metadata(&name)?;
        client.secret_metadata(&name, &meta, now)
    }

    fn list_versions(name: String) -> Result<SecretHistory, Error> {
        let client = client()?;
        let now = kv::now();
        let meta = client.metadata(&name)?;
        let skip = meta.versions.len().saturating_sub(MAX_LISTED_VERSIONS);
        let versions = meta.versions[skip..]
            .iter()
            .map(|v| VersionInfo {
                version: v.number,
                created: v.created,
                state: match meta.state(v, now) {
                    State::Current => VersionState::Current,
                    State::Previous => VersionState::Previous,
                    State::Deleted => VersionState::Deleted,
                    State::Destroyed => VersionState::Destroyed,
                },
                // KV version 2 does not record who wrote a version.
                author: None,
            })
            .collect();
        Ok(SecretHistory {
            metadata: client.secret_metadata(&name, &meta, now)?,
            versions,
        })
    }

    fn update_secret(secret: Secret, expected: Option<u64>) -> Result<u64, Error> {
        let client = client()?;
        let secret = to_kit(secret);
        let name = secret.name.clone();
        let data = codec::encode(&secret)?;
        let op = format!("updating secret `{name}`");
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let head = client.live_metadata(&name, kv::now())?.head;
            let cas = expected.unwrap_or(head);
            if cas != head {
                return Err(Error::Conflict(format!(
                    "secret `{name}` is at version {head}, not {cas}"
                )));
            }
            let body = json!({ "options": { "cas": cas }, "data": data });
            match client.write(&op, &secret, &body) {
                Ok(reply) => {
                    return reply["data"]["version"]
                        .as_u64()
                        .ok_or_else(|| errors::malformed(&op, "no data.version").into());
                }
                // Another version landed after the read (`errors.rs` maps
                // Vault's check-and-set refusal to `already-exists`).
                Err(flavor_kit::Error::AlreadyExists(m)) => {
                    if expected.is_some() {
                        return Err(Error::Conflict(m));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(format!(
            "secret `{name}` changed under {MAX_WRITE_ATTEMPTS} attempts to update it"
        )))
    }

    fn delete_secret(name: String, purge: bool) -> Result<(), Error> {
        let client = client()?;
        if purge {
            client.metadata(&name)?;
            return Ok(client.delete_listed(&name, &())?);
        }
        let head = client.live_metadata(&name, kv::now())?.head;
        let body = json!({ "versions": [head] });
        Ok(client.post("delete", &name, &format!("deleting secret `{name}`"), &body)?)
    }

    fn restore_secret(name: String) -> Result<(), Error> {
        let client = client()?;
        let meta = client.metadata(&name)?;
        if !meta.deleted(kv::now()) {
            return Err(Error::Invalid(format!("secret `{name}` is not deleted")));
        }
        if meta.head_destroyed() {
            return Err(Error::Invalid(format!(
                "the current version {} of secret `{name}` was destroyed in Vault; \
                 it cannot be restored",
                meta.head
            )));
        }
        let body = json!({ "versions": [meta.head] });
        client.post(
            "undelete",
            &name,
            &format!("restoring secret `{name}`"),
            &body,
        )?;
        Ok(client.touch(&name, &meta)?)
    }

    fn destroy_versions(name: String, versions: Vec<u64>) -> Result<(), Error> {
        let client = client()?;
        let meta = client.metadata(&name)?;
        if let Some(bad) = versions.iter().find(|&&v| v == 0 || v >= meta.head) {
            return Err(Error::Invalid(format!(
                "version {bad} of secret `{name}` cannot be destroyed: its current version \
                 is {} (update or delete the secret instead)",
                meta.head
            )));
        }
        let body = json!({ "versions": versions });
        client.post(
            "destroy",
            &name,
            &format!("destroying versions of `{name}`"),
            &body,
        )?;
        Ok(client.touch(&name, &meta)?)
    }

    fn set_labels(name: String, labels: Vec<(String, String)>) -> Result<(), Error> {
        let client = client()?;
        client.live_metadata(&name, kv::now())?;
        let body = json!({ "custom_metadata": kv::custom_metadata(&labels) });
        Ok(client.post(
            "metadata",
            &name,
            &format!("labelling secret `{name}`"),
            &body,
        )?)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        bulk::require_force(force)?;
        let client = client()?;
        Ok(bulk::delete_each(&client.list()?, |(name, listed)| {
            client.delete_listed(name, listed)
        })?)
    }

    fn validate_config(_config: Vec<(String, String)>) -> Result<(), Error> {
        // The `config` import reads the config being judged.
        client().map(|_| ())
    }
}

impl metadata::Guest for Vault {
    fn info() -> FlavorInfo {
        flavor_info(&<Client as Manager>::ABOUT)
    }
}

bindings::export!(Vault);
