//! A secret's history over the server's API (a flavor of contract 0.2
//! behind it): versions, one version's values, rollback, restore,
//! check-and-set updates, metadata listings and labels.
//!
//! Guards against a hostile or broken server's answer being shown as if a
//! flavor had given it: metadata, histories and listings are checked by the
//! rules a flavor's answers are (`contract::history`: names, label keys and
//! values, times, versions in order with exactly one current), a version's
//! values must be of the secret and version asked for, and a version a
//! write answers must come after the one it replaced. Anything else is a
//! `backend` error naming what was malformed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::super::json::{LabelsBody, RollbackBody, SecretBody, UpdateBody};
use super::Remote;
use crate::contract::history::{self, Labels, SecretHistory, SecretMetadata};
use crate::contract::v0_2;
use crate::error::{Error, Result};
use crate::managers::{LabelChange, SecretSummary, SecretUpdate};
use crate::secret::Secret;

/// A secret's metadata as the API shows it.
#[derive(Deserialize)]
struct WireMetadata {
    name: String,
    schema: String,
    created: u64,
    updated: u64,
    current_version: u64,
    deleted: bool,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl From<WireMetadata> for v0_2::SecretMetadata {
    fn from(wire: WireMetadata) -> Self {
        v0_2::SecretMetadata {
            name: wire.name,
            schema: wire.schema,
            created: wire.created,
            updated: wire.updated,
            current_version: wire.current_version,
            deleted: wire.deleted,
            labels: wire.labels.into_iter().collect(),
        }
    }
}

/// One version as the API shows it.
#[derive(Deserialize)]
struct WireVersion {
    version: u64,
    created: u64,
    state: WireState,
    author: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum WireState {
    Current,
    Previous,
    Deleted,
    Destroyed,
}

#[derive(Deserialize)]
struct WireHistory {
    metadata: WireMetadata,
    versions: Vec<WireVersion>,
}

impl From<WireHistory> for v0_2::SecretHistory {
    fn from(wire: WireHistory) -> Self {
        let versions = wire.versions.into_iter().map(|v| v0_2::VersionInfo {
            version: v.version,
            created: v.created,
            state: match v.state {
                WireState::Current => v0_2::VersionState::Current,
                WireState::Previous => v0_2::VersionState::Previous,
                WireState::Deleted => v0_2::VersionState::Deleted,
                WireState::Destroyed => v0_2::VersionState::Destroyed,
            },
            author: v.author,
        });
        v0_2::SecretHistory {
            metadata: wire.metadata.into(),
            versions: versions.collect(),
        }
    }
}

/// The `backend` error of an answer that is not what was asked.
fn malformed(what: &str, why: impl std::fmt::Display) -> Error {
    Error::backend(format!("the server's {what} is malformed: {why}"))
}

/// `value` read as `T`, or the `backend` error naming `what`.
fn read<T: for<'de> Deserialize<'de>>(what: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|_| malformed(what, "not the shape the API answers"))
}

/// The version an answer names under `version`: a number after `floor`.
fn version_after(what: &str, value: &Value, floor: u64) -> Result<u64> {
    match value["version"].as_u64() {
        Some(version) if version > floor => Ok(version),
        _ => Err(malformed(what, format!("no version after {floor}"))),
    }
}

/// A secret answered with its version: of `name`, checked as any secret.
fn versioned_secret(name: &str, mut value: Value) -> Result<(Secret, Option<u64>)> {
    let version = match &value["version"] {
        Value::Null => None,
        _ => Some(version_after("secret", &value, 0)?),
    };
    if let Some(object) = value.as_object_mut() {
        object.remove("version");
    }
    let secret = read::<SecretBody>("secret", value)?.into_secret()?;
    if secret.name() != name {
        return Err(malformed("secret", "another secret than the one asked for"));
    }
    Ok((secret, version))
}

impl Remote {
    fn secret_route(&self, name: &str, rest: &str) -> String {
        format!("{}/{rest}", self.secret_path(name))
    }

    /// `GET /v1/managers/M`: whether its flavor keeps history.
    pub(super) fn manager_keeps_history(&self) -> Result<bool> {
        let path = format!("/v1/managers/{}", super::segment(&self.manager));
        let value = self.request("GET", &path, None)?;
        value["keeps_history"]
            .as_bool()
            .ok_or_else(|| malformed("answer", "no `keeps_history`"))
    }

    /// `GET .../secrets/NAME/versions`.
    pub(super) fn history_of(&self, name: &str) -> Result<SecretHistory> {
        let value = self.request("GET", &self.secret_route(name, "versions"), None)?;
        let raw: WireHistory = read("history", value)?;
        history::history(name, raw.into()).map_err(|why| malformed("history", why))
    }

    /// `GET .../secrets/NAME/versions/N`.
    pub(super) fn version_of(&self, name: &str, version: u64) -> Result<Secret> {
        if version == 0 {
            return Err(Error::invalid("there is no version 0; versions start at 1"));
        }
        let path = self.secret_route(name, &format!("versions/{version}"));
        let (secret, answered) = versioned_secret(name, self.request("GET", &path, None)?)?;
        if answered != Some(version) {
            return Err(malformed(
                "secret",
                "another version than the one asked for",
            ));
        }
        Ok(secret)
    }

    /// `GET .../secrets/NAME`, with the version a flavor keeping history
    /// answers; kept in the offline cache as `SecretsApi::get_secret`
    /// keeps it, and while the server cannot be reached the cached one
    /// within its age (its version unknown).
    pub(super) fn versioned(&self, name: &str) -> Result<(Secret, Option<u64>)> {
        let value = match self.request("GET", &self.secret_path(name), None) {
            Ok(value) => value,
            Err(err) => return self.offline_secret(name).map(|s| (s, None)).ok_or(err),
        };
        let (secret, version) = versioned_secret(name, value)?;
        self.keep_offline(&secret)?;
        Ok((secret, version))
    }

    /// `POST .../secrets/NAME/rollback`.
    pub(super) fn rolled_back(&self, name: &str, to: u64) -> Result<u64> {
        let body = serde_json::to_value(RollbackBody { to }).map_err(Error::host)?;
        let path = self.secret_route(name, "rollback");
        let value = self.request("POST", &path, Some(body))?;
        version_after("rollback", &value, 1)
    }

    /// `POST .../secrets/NAME/restore`.
    pub(super) fn restored(&self, name: &str) -> Result<()> {
        self.request("POST", &self.secret_route(name, "restore"), None)?;
        Ok(())
    }

    /// `PATCH .../secrets/NAME` with `If-Match: "expected"`.
    pub(super) fn updated_if(
        &self,
        name: &str,
        update: &SecretUpdate,
        expected: u64,
    ) -> Result<(SecretSummary, u64)> {
        update.require_changes()?;
        if expected == 0 {
            return Err(Error::invalid("there is no version 0; versions start at 1"));
        }
        let body = UpdateBody {
            values: update.set.iter().cloned().collect(),
            remove: update.remove.clone(),
            schema: update.schema.clone(),
        };
        let body = serde_json::to_value(body).map_err(Error::host)?;
        let mut value = self.request_if_match("PATCH", &self.secret_path(name), body, expected)?;
        let written = version_after("answer", &value, expected)?;
        if let Some(object) = value.as_object_mut() {
            object.remove("version");
        }
        let summary = super::secrets::checked_summary(value)?;
        if summary.name != name {
            return Err(malformed("answer", "another secret than the one written"));
        }
        Ok((summary, written))
    }

    /// `GET .../secrets?long=true`, sorted by name.
    pub(super) fn metadata_listing(&self) -> Result<Vec<SecretMetadata>> {
        let path = format!("{}?long=true", self.secrets_path());
        let mut value = self.request("GET", &path, None)?;
        let listed: Vec<WireMetadata> = read("listing", value["secrets"].take())?;
        let raw = listed.into_iter().map(Into::into).collect();
        let mut listing = history::check_metadata_listing(false, raw)
            .map_err(|refused| malformed("listing", refused.detail()))?;
        listing.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listing)
    }

    /// `POST .../secrets/NAME/labels`.
    pub(super) fn labelled(&self, name: &str, change: &LabelChange) -> Result<Labels> {
        let body = LabelsBody {
            set: change.set.iter().cloned().collect(),
            remove: change.remove.clone(),
        };
        let body = serde_json::to_value(body).map_err(Error::host)?;
        let mut value = self.request("POST", &self.secret_route(name, "labels"), Some(body))?;
        let labels: BTreeMap<String, String> = read("labels", value["labels"].take())?;
        Labels::new(labels.into_iter().collect()).map_err(|why| malformed("labels", why))
    }
}
