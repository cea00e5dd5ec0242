//! The built-in `local` flavor, contract `flavorbox:secrets@0.2.0`: secrets
//! with versions in this manager's own host storage.
//!
//! The rules live in `versions.rs` (one secret's record), the storage layout
//! in `store.rs`, the encoding in `codec.rs` (secrets written by the 0.1
//! flavor, ZenML `LocalSecretsManager` YAML, still read), the config in
//! `config.rs`; this file only maps the contract's calls and types onto them,
//! with the time from `wasi:clocks/wall-clock` and `max_versions` from the
//! manager's config.
//!
//! Guards against: a config the flavor cannot honour being used anyway (an
//! out-of-range `max_versions` fails every write, not just registration); a
//! wall clock before the Unix epoch becoming a huge time (it reads as 0, and
//! the record keeps times from going backwards).

use std::time::{SystemTime, UNIX_EPOCH};

wit_bindgen::generate!({
    path: "../../../wit/0.2",
    world: "flavor",
});

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::types::{
    ConfigField, Error, FlavorInfo, Labels, Secret, SecretHistory, SecretMetadata, Version,
    VersionInfo, VersionState, VersionedSecret,
};
use flavorbox::secrets::{config as host_config, storage};

mod codec;
mod config;
#[cfg(test)]
mod memory;
mod store;
mod versions;

use codec::Values;
use store::Namespace;

struct Local;

/// The manager's namespace, through the host's `storage` import.
struct HostStorage;

impl From<Error> for versions::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound(d) => versions::Error::NotFound(d),
            Error::AlreadyExists(d) => versions::Error::AlreadyExists(d),
            Error::Invalid(d) => versions::Error::Invalid(d),
            Error::Denied(d) => versions::Error::Denied(d),
            Error::Backend(d) => versions::Error::Backend(d),
            Error::Conflict(d) => versions::Error::Conflict(d),
        }
    }
}

impl From<versions::Error> for Error {
    fn from(error: versions::Error) -> Self {
        match error {
            versions::Error::NotFound(d) => Error::NotFound(d),
            versions::Error::AlreadyExists(d) => Error::AlreadyExists(d),
            versions::Error::Invalid(d) => Error::Invalid(d),
            versions::Error::Denied(d) => Error::Denied(d),
            versions::Error::Backend(d) => Error::Backend(d),
            versions::Error::Conflict(d) => Error::Conflict(d),
        }
    }
}

impl Namespace for HostStorage {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, versions::Error> {
        Ok(storage::get(key)?)
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), versions::Error> {
        Ok(storage::set(key, value)?)
    }

    fn delete(&mut self, key: &str) -> Result<bool, versions::Error> {
        Ok(storage::delete(key)?)
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>, versions::Error> {
        Ok(storage::list_keys(prefix)?)
    }
}

fn now() -> versions::Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

fn max_versions() -> Result<usize, Error> {
    Ok(config::max_versions(
        host_config::get(config::MAX_VERSIONS).as_deref(),
    )?)
}

fn to_metadata(name: String, meta: versions::Metadata) -> SecretMetadata {
    SecretMetadata {
        name,
        schema: meta.schema,
        created: meta.created,
        updated: meta.updated,
        current_version: meta.current,
        deleted: meta.deleted,
        labels: meta.labels,
    }
}

fn to_version_info(info: versions::VersionInfo) -> VersionInfo {
    VersionInfo {
        version: info.version,
        created: info.created,
        state: match info.state {
            versions::State::Current => VersionState::Current,
            versions::State::Previous => VersionState::Previous,
            versions::State::Deleted => VersionState::Deleted,
            versions::State::Destroyed => VersionState::Destroyed,
        },
        author: None,
    }
}

impl secrets_manager::Guest for Local {
    fn register_secret(secret: Secret, labels: Labels) -> Result<(), Error> {
        let Secret {
            name,
            schema,
            values,
        } = secret;
        Ok(store::register(
            &mut HostStorage,
            &name,
            &schema,
            Values(values),
            labels,
            now(),
        )?)
    }

    fn get_secret(name: String, version: Option<Version>) -> Result<VersionedSecret, Error> {
        let read = store::get(&mut HostStorage, &name, version)?;
        Ok(VersionedSecret {
            secret: Secret {
                name,
                schema: read.schema,
                values: read.values.0,
            },
            version: read.version,
        })
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        Ok(store::names(&mut HostStorage)?)
    }

    fn list_secrets(include_deleted: bool) -> Result<Vec<SecretMetadata>, Error> {
        Ok(store::list(&mut HostStorage, include_deleted)?
            .into_iter()
            .map(|(name, meta)| to_metadata(name, meta))
            .collect())
    }

    fn get_metadata(name: String) -> Result<SecretMetadata, Error> {
        let meta = store::metadata(&mut HostStorage, &name)?;
        Ok(to_metadata(name, meta))
    }

    fn list_versions(name: String) -> Result<SecretHistory, Error> {
        let (meta, versions) = store::history(&mut HostStorage, &name)?;
        Ok(SecretHistory {
            metadata: to_metadata(name, meta),
            versions: versions.into_iter().map(to_version_info).collect(),
        })
    }

    fn update_secret(secret: Secret, expected: Option<Version>) -> Result<Version, Error> {
        let max_versions = max_versions()?;
        let Secret {
            name,
            schema,
            values,
        } = secret;
        Ok(store::update(
            &mut HostStorage,
            &name,
            &schema,
            Values(values),
            expected,
            now(),
            max_versions,
        )?)
    }

    fn delete_secret(name: String, purge: bool) -> Result<(), Error> {
        Ok(store::delete(&mut HostStorage, &name, purge, now())?)
    }

    fn restore_secret(name: String) -> Result<(), Error> {
        Ok(store::restore(&mut HostStorage, &name, now())?)
    }

    fn destroy_versions(name: String, versions: Vec<Version>) -> Result<(), Error> {
        Ok(store::destroy(&mut HostStorage, &name, &versions, now())?)
    }

    fn set_labels(name: String, labels: Labels) -> Result<(), Error> {
        Ok(store::set_labels(&mut HostStorage, &name, labels, now())?)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        Ok(store::delete_all(&mut HostStorage, force)?)
    }

    fn validate_config(config: Vec<(String, String)>) -> Result<(), Error> {
        Ok(config::validate(&config)?)
    }
}

impl metadata::Guest for Local {
    fn info() -> FlavorInfo {
        FlavorInfo {
            name: "local".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Secrets in the embedded store of this flavorbox home, with \
                          versions, soft delete and labels."
                .to_string(),
            config: vec![ConfigField {
                name: config::MAX_VERSIONS.to_string(),
                description: format!(
                    "How many versions of each secret to keep, {}-{} (default {}); \
                     older ones are forgotten. Versions count against the storage quota.",
                    config::MAX_VERSIONS_RANGE.start(),
                    config::MAX_VERSIONS_RANGE.end(),
                    config::DEFAULT_MAX_VERSIONS
                ),
                required: false,
                secret: false,
            }],
            capabilities: vec!["storage".to_string()],
        }
    }
}

export!(Local);
