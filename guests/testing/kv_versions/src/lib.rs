//! Test flavor `kv_versions`: contract 0.2 (`wit/0.2/flavor.wit`) over the
//! host's storage, as a backend without native versions must do it.
//!
//! Each secret is one record `secret/<name>` (JSON: times, current
//! version, soft-delete mark, labels, and every version's time, schema and
//! values, a destroyed one without them). It keeps every version (no
//! pruning: the `local` flavor's last-N policy is its own). Config `keep`
//! is accepted only as a positive integer, so `validate-config` has
//! something to refuse; it is otherwise unused.
//!
//! Host: exercises every 0.2 path of the sandbox (`sandbox/exports`) and
//! registration's `validate-config`.

wit_bindgen::generate!({
    path: "../../../wit/0.2",
    world: "flavor",
});

use std::collections::BTreeMap;

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::storage;
use flavorbox::secrets::types::{
    ConfigField, Error, FlavorInfo, Secret, SecretHistory, SecretMetadata, VersionInfo,
    VersionState, VersionedSecret,
};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "secret/";

#[derive(Serialize, Deserialize)]
struct Version {
    created: u64,
    schema: String,
    /// `None`: destroyed.
    values: Option<Vec<(String, String)>>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    created: u64,
    updated: u64,
    deleted: bool,
    labels: Vec<(String, String)>,
    /// Version `i + 1` at index `i`; the last is current.
    versions: Vec<Version>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn load(name: &str) -> Result<Option<Record>, Error> {
    match storage::get(&format!("{PREFIX}{name}"))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Backend(format!("corrupt record: {e}"))),
    }
}

fn live(name: &str) -> Result<Record, Error> {
    match load(name)? {
        Some(record) if !record.deleted => Ok(record),
        _ => Err(Error::NotFound(format!("no secret `{name}`"))),
    }
}

fn any(name: &str) -> Result<Record, Error> {
    load(name)?.ok_or_else(|| Error::NotFound(format!("no secret `{name}`")))
}

fn save(name: &str, record: &Record) -> Result<(), Error> {
    let bytes = serde_json::to_vec(record).map_err(|e| Error::Backend(e.to_string()))?;
    storage::set(&format!("{PREFIX}{name}"), &bytes)
}

fn current(record: &Record) -> u64 {
    record.versions.len() as u64
}

fn meta(name: &str, record: &Record) -> SecretMetadata {
    SecretMetadata {
        name: name.to_string(),
        schema: record
            .versions
            .last()
            .map(|v| v.schema.clone())
            .unwrap_or_default(),
        created: record.created,
        updated: record.updated,
        current_version: current(record),
        deleted: record.deleted,
        labels: record.labels.clone(),
    }
}

fn names() -> Result<Vec<String>, Error> {
    Ok(storage::list_keys(PREFIX)?
        .into_iter()
        .filter_map(|k| k.strip_prefix(PREFIX).map(str::to_string))
        .collect())
}

struct KvVersions;

impl secrets_manager::Guest for KvVersions {
    fn register_secret(secret: Secret, labels: Vec<(String, String)>) -> Result<(), Error> {
        if load(&secret.name)?.is_some() {
            return Err(Error::AlreadyExists(format!("secret `{}`", secret.name)));
        }
        let at = now();
        let record = Record {
            created: at,
            updated: at,
            deleted: false,
            labels,
            versions: vec![Version {
                created: at,
                schema: secret.schema,
                values: Some(secret.values),
            }],
        };
        save(&secret.name, &record)
    }

    fn get_secret(name: String, version: Option<u64>) -> Result<VersionedSecret, Error> {
        let record = live(&name)?;
        let number = version.unwrap_or(current(&record));
        let found = number
            .checked_sub(1)
            .and_then(|i| record.versions.get(i as usize));
        match found {
            Some(Version {
                schema,
                values: Some(values),
                ..
            }) => Ok(VersionedSecret {
                secret: Secret {
                    name,
                    schema: schema.clone(),
                    values: values.clone(),
                },
                version: number,
            }),
            _ => Err(Error::NotFound(format!("no version {number} of `{name}`"))),
        }
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        let mut live = Vec::new();
        for name in names()? {
            if load(&name)?.is_some_and(|r| !r.deleted) {
                live.push(name);
            }
        }
        Ok(live)
    }

    fn list_secrets(include_deleted: bool) -> Result<Vec<SecretMetadata>, Error> {
        let mut out = Vec::new();
        for name in names()? {
            if let Some(record) = load(&name)?
                && (include_deleted || !record.deleted)
            {
                out.push(meta(&name, &record));
            }
        }
        Ok(out)
    }

    fn get_metadata(name: String) -> Result<SecretMetadata, Error> {
        Ok(meta(&name, &any(&name)?))
    }

    fn list_versions(name: String) -> Result<SecretHistory, Error> {
        let record = any(&name)?;
        let head = current(&record);
        let versions = record
            .versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let number = i as u64 + 1;
                let state = if v.values.is_none() {
                    VersionState::Destroyed
                } else if number != head {
                    VersionState::Previous
                } else if record.deleted {
                    VersionState::Deleted
                } else {
                    VersionState::Current
                };
                VersionInfo {
                    version: number,
                    created: v.created,
                    state,
                    author: None,
                }
            })
            .collect();
        Ok(SecretHistory {
            metadata: meta(&name, &record),
            versions,
        })
    }

    fn update_secret(secret: Secret, expected: Option<u64>) -> Result<u64, Error> {
        let mut record = live(&secret.name)?;
        if let Some(expected) = expected
            && expected != current(&record)
        {
            return Err(Error::Conflict(format!(
                "`{}` is at version {}, not {expected}",
                secret.name,
                current(&record)
            )));
        }
        let at = now();
        record.versions.push(Version {
            created: at,
            schema: secret.schema,
            values: Some(secret.values),
        });
        record.updated = at;
        save(&secret.name, &record)?;
        Ok(current(&record))
    }

    fn delete_secret(name: String, purge: bool) -> Result<(), Error> {
        if purge {
            return match storage::delete(&format!("{PREFIX}{name}"))? {
                true => Ok(()),
                false => Err(Error::NotFound(format!("no secret `{name}`"))),
            };
        }
        let mut record = live(&name)?;
        record.deleted = true;
        record.updated = now();
        save(&name, &record)
    }

    fn restore_secret(name: String) -> Result<(), Error> {
        let mut record = any(&name)?;
        if !record.deleted {
            return Err(Error::Invalid(format!("`{name}` is not deleted")));
        }
        record.deleted = false;
        record.updated = now();
        save(&name, &record)
    }

    fn destroy_versions(name: String, versions: Vec<u64>) -> Result<(), Error> {
        let mut record = any(&name)?;
        let head = current(&record);
        if let Some(bad) = versions.iter().find(|&&v| v == 0 || v >= head) {
            return Err(Error::Invalid(format!(
                "version {bad} of `{name}` cannot be destroyed (current: {head})"
            )));
        }
        for v in versions {
            record.versions[v as usize - 1].values = None;
        }
        record.updated = now();
        save(&name, &record)
    }

    fn set_labels(name: String, labels: Vec<(String, String)>) -> Result<(), Error> {
        let mut record = live(&name)?;
        record.labels = labels;
        record.updated = now();
        save(&name, &record)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        if !force {
            return Err(Error::Invalid("delete-all-secrets needs force".into()));
        }
        for name in names()? {
            storage::delete(&format!("{PREFIX}{name}"))?;
        }
        Ok(())
    }

    fn validate_config(config: Vec<(String, String)>) -> Result<(), Error> {
        let config: BTreeMap<_, _> = config.into_iter().collect();
        match config.get("keep") {
            Some(keep) if keep.parse::<u32>().map_or(true, |n| n == 0) => Err(Error::Invalid(
                format!("`keep` must be a positive integer, not `{keep}`"),
            )),
            _ => Ok(()),
        }
    }
}

impl metadata::Guest for KvVersions {
    fn info() -> FlavorInfo {
        FlavorInfo {
            name: "kv_versions".into(),
            version: "0.1.0".into(),
            description: "Test flavor of contract 0.2: versions kept in its storage.".into(),
            config: vec![ConfigField {
                name: "keep".into(),
                description: "A positive integer (checked by validate-config, else unused).".into(),
                required: false,
                secret: false,
            }],
            capabilities: vec!["storage".into()],
        }
    }
}

export!(KvVersions);
