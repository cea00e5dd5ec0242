//! What contract 0.2 adds to a secret, as the host holds it: versions,
//! their states, metadata and labels, checked.
//!
//! Guards against a 0.2 flavor's answer that cannot be true being shown as
//! if it were: label keys the contract forbids, label values or authors
//! that would print as something else, versions listed out of order or
//! twice, a history whose current version is not in its list or which has
//! two current versions, a metadata record of another secret, times past
//! the year 9999, a write that claims a version not after the one it
//! replaced. Every such answer is a `sandbox: garbage` error. The same
//! label rules refuse a user's labels before a flavor sees them.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Operation, clip, v0_2};
use crate::error::{Error, Result, Violation};
use crate::policy::caps;
use crate::secret::{check_key, check_name};

/// Most labels on one secret.
pub const MAX_LABELS: usize = 32;
/// Longest label value, in characters.
pub const MAX_LABEL_VALUE: usize = 256;
/// Longest author, in characters.
pub const MAX_AUTHOR: usize = 256;
/// Most versions one history lists (the newest ones).
pub const MAX_LISTED_VERSIONS: usize = 1_000;
/// Most versions one `destroy-versions` names.
pub const MAX_DESTROYED_AT_ONCE: usize = 100;
/// 9999-12-31T23:59:59.999Z in milliseconds: a later time is no time.
pub const MAX_TIMESTAMP: u64 = 253_402_300_799_999;

/// A secret's labels: checked, distinct keys, sorted. Serialized as a
/// map of key to value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Vec<(String, String)>);

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, to: S) -> std::result::Result<S::Ok, S::Error> {
        to.collect_map(self.0.iter().map(|(key, value)| (key, value)))
    }
}

impl Labels {
    /// Checks `pairs` by the contract's rules; the error says what is wrong.
    pub fn new(pairs: Vec<(String, String)>) -> std::result::Result<Labels, String> {
        if pairs.len() > MAX_LABELS {
            return Err(format!(
                "{} labels, more than the {MAX_LABELS} a secret may carry",
                pairs.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for (key, value) in &pairs {
            check_key(key).map_err(|e| format!("label {e}"))?;
            if !seen.insert(key.as_str()) {
                return Err(format!("label `{key}` is given more than once"));
            }
            printable(
                &format!("the value of label `{key}`"),
                value,
                MAX_LABEL_VALUE,
            )?;
        }
        let mut pairs = pairs;
        pairs.sort();
        Ok(Labels(pairs))
    }

    pub fn pairs(&self) -> &Vec<(String, String)> {
        &self.0
    }
}

/// Refuses text of more than `max` characters or with a control character.
fn printable(what: &str, text: &str, max: usize) -> std::result::Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} holds a control character"));
    }
    Ok(())
}

/// Where a version stands (see `version-state` in `wit/0.2/flavor.wit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionState {
    Current,
    Previous,
    Deleted,
    Destroyed,
}

/// One version of a secret, without its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub created: u64,
    pub state: VersionState,
    /// Escaped for one line.
    pub author: Option<String>,
}

/// A secret without its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMetadata {
    pub name: String,
    pub schema: String,
    pub created: u64,
    pub updated: u64,
    pub current_version: u64,
    pub deleted: bool,
    pub labels: Labels,
}

/// A secret's metadata and the versions its backend keeps, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretHistory {
    pub metadata: SecretMetadata,
    pub versions: Vec<VersionInfo>,
}

pub(crate) fn garbage(operation: Operation, detail: String) -> Error {
    Error::sandbox(
        Violation::Garbage,
        format!("{} returned {detail}", operation.name()),
    )
}

fn timestamp(what: &str, ms: u64) -> std::result::Result<u64, String> {
    if ms > MAX_TIMESTAMP {
        return Err(format!("{what} {ms} ms, after the year 9999"));
    }
    Ok(ms)
}

/// Checks a secret's metadata by the contract's rules (a server's answer
/// too, which has the same shape): the error says what is wrong.
pub fn metadata(
    raw: v0_2::SecretMetadata,
    asked: Option<&str>,
) -> std::result::Result<SecretMetadata, String> {
    check_name("secret name", &raw.name).map_err(|e| e.to_string())?;
    if let Some(asked) = asked
        && raw.name != asked
    {
        return Err(format!(
            "the metadata of `{}` when asked for `{asked}`",
            clip(&raw.name)
        ));
    }
    let name = raw.name;
    check_name("schema name", &raw.schema).map_err(|e| format!("`{name}`: {e}"))?;
    let created = timestamp("a creation time of", raw.created)?;
    let updated = timestamp("an update time of", raw.updated)?;
    if updated < created {
        return Err(format!(
            "`{name}` updated ({updated}) before it was created ({created})"
        ));
    }
    if raw.current_version == 0 {
        return Err(format!("`{name}` at version 0; versions start at 1"));
    }
    let labels = Labels::new(raw.labels).map_err(|e| format!("`{name}`: {e}"))?;
    Ok(SecretMetadata {
        name,
        schema: raw.schema,
        created,
        updated,
        current_version: raw.current_version,
        deleted: raw.deleted,
        labels,
    })
}

/// Checks the answer to `get-metadata(asked)`.
pub fn check_metadata(asked: &str, raw: v0_2::SecretMetadata) -> Result<SecretMetadata> {
    metadata(raw, Some(asked)).map_err(|e| garbage(Operation::GetMetadata, e))
}

/// Checks the answer to `list-secrets(include_deleted)`: valid records of
/// distinct secrets, at most [`caps::LISTED_NAMES`], none deleted unless
/// asked for.
pub fn check_metadata_listing(
    include_deleted: bool,
    raw: Vec<v0_2::SecretMetadata>,
) -> Result<Vec<SecretMetadata>> {
    let op = Operation::ListSecrets;
    if raw.len() > caps::LISTED_NAMES {
        return Err(garbage(
            op,
            format!(
                "{} secrets, more than the {} a listing may hold",
                raw.len(),
                caps::LISTED_NAMES
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    raw.into_iter()
        .map(|record| {
            let record = metadata(record, None).map_err(|e| garbage(op, e))?;
            if record.deleted && !include_deleted {
                return Err(garbage(
                    op,
                    format!(
                        "soft-deleted `{}` when asked for live secrets only",
                        record.name
                    ),
                ));
            }
            if !seen.insert(record.name.clone()) {
                return Err(garbage(
                    op,
                    format!("`{}` twice in one listing", record.name),
                ));
            }
            Ok(record)
        })
        .collect()
}

fn state(raw: v0_2::VersionState) -> VersionState {
    match raw {
        v0_2::VersionState::Current => VersionState::Current,
        v0_2::VersionState::Previous => VersionState::Previous,
        v0_2::VersionState::Deleted => VersionState::Deleted,
        v0_2::VersionState::Destroyed => VersionState::Destroyed,
    }
}

/// Checks a history of `asked` by the contract's rules (see
/// [`check_history`]); the error says what is wrong.
pub fn history(
    asked: &str,
    raw: v0_2::SecretHistory,
) -> std::result::Result<SecretHistory, String> {
    let metadata = metadata(raw.metadata, Some(asked))?;
    if raw.versions.is_empty() || raw.versions.len() > MAX_LISTED_VERSIONS {
        return Err(format!(
            "{} versions of `{asked}`; a history lists 1-{MAX_LISTED_VERSIONS}",
            raw.versions.len()
        ));
    }
    let head = if metadata.deleted {
        VersionState::Deleted
    } else {
        VersionState::Current
    };
    let mut versions = Vec::with_capacity(raw.versions.len());
    let mut last = 0;
    for info in raw.versions {
        if info.version <= last {
            return Err(format!(
                "version {} of `{asked}` after version {last}; versions are listed oldest \
                 first, each once",
                info.version
            ));
        }
        last = info.version;
        let state = state(info.state);
        let is_head = info.version == metadata.current_version;
        // The head version, and only it, is in the head state; no other
        // version is `current` or `deleted`.
        let misplaced = is_head != (state == head)
            || (matches!(state, VersionState::Current | VersionState::Deleted) && state != head);
        if misplaced {
            return Err(format!(
                "version {} of `{asked}` as {state:?} where its metadata says the secret is at \
                 version {}{}",
                info.version,
                metadata.current_version,
                if metadata.deleted {
                    ", soft-deleted"
                } else {
                    ""
                }
            ));
        }
        if let Some(author) = &info.author {
            printable(
                &format!("the author of version {}", info.version),
                author,
                MAX_AUTHOR,
            )?;
        }
        versions.push(VersionInfo {
            version: info.version,
            created: timestamp("a version created at", info.created)?,
            state,
            author: info.author.map(|a| crate::text::escape(&a).into_owned()),
        });
    }
    if !versions
        .iter()
        .any(|v| v.version == metadata.current_version)
    {
        return Err(format!(
            "no version {} of `{asked}`, which its metadata says is current",
            metadata.current_version
        ));
    }
    Ok(SecretHistory { metadata, versions })
}

/// Checks the answer to `list-versions(asked)`: the metadata of the secret
/// asked for, versions strictly increasing, exactly the one the metadata
/// names `current` (`deleted` for a soft-deleted secret), the others
/// `previous` or `destroyed`.
pub fn check_history(asked: &str, raw: v0_2::SecretHistory) -> Result<SecretHistory> {
    history(asked, raw).map_err(|e| garbage(Operation::ListVersions, e))
}

/// Checks the version a write returned: after `expected` when the write
/// was checked against it, and after version 1 in any case.
pub fn check_written(expected: Option<u64>, written: u64) -> Result<u64> {
    let floor = expected.unwrap_or(1);
    if written <= floor {
        return Err(garbage(
            Operation::UpdateSecret,
            format!("version {written} for a write after version {floor}"),
        ));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, current: u64, deleted: bool) -> v0_2::SecretMetadata {
        v0_2::SecretMetadata {
            name: name.to_string(),
            schema: "arbitrary".to_string(),
            created: 1,
            updated: 2,
            current_version: current,
            deleted,
            labels: Vec::new(),
        }
    }

    fn version(version: u64, state: v0_2::VersionState) -> v0_2::VersionInfo {
        v0_2::VersionInfo {
            version,
            created: version,
            state,
            author: None,
        }
    }

    fn is_garbage(err: Error) -> String {
        assert_eq!(err.kind().as_str(), "garbage", "{err}");
        err.to_string()
    }

    #[test]
    fn labels_follow_the_key_rules_and_caps() {
        assert!(Labels::new(vec![("team".into(), "data".into())]).is_ok());
        assert!(Labels::new(vec![("a b".into(), "x".into())]).is_err());
        assert!(Labels::new(vec![("k".into(), "1".into()), ("k".into(), "2".into())]).is_err());
        assert!(Labels::new(vec![("k".into(), "x".repeat(MAX_LABEL_VALUE + 1))]).is_err());
        assert!(Labels::new(vec![("k".into(), "a\u{1b}[2J".into())]).is_err());
        let many = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert!(Labels::new(many).is_err());
    }

    #[test]
    fn a_history_is_ordered_and_names_its_current_version_once() {
        use v0_2::VersionState::{Current, Deleted, Destroyed, Previous};
        let good = v0_2::SecretHistory {
            metadata: meta("db", 3, false),
            versions: vec![
                version(1, Destroyed),
                version(2, Previous),
                version(3, Current),
            ],
        };
        assert_eq!(check_history("db", good).unwrap().versions.len(), 3);
        let deleted = v0_2::SecretHistory {
            metadata: meta("db", 2, true),
            versions: vec![version(1, Previous), version(2, Deleted)],
        };
        assert!(check_history("db", deleted).is_ok());
        for (what, bad) in [
            ("backwards", vec![version(2, Previous), version(1, Current)]),
            ("twice", vec![version(1, Current), version(1, Current)]),
            (
                "two current",
                vec![version(1, Current), version(2, Current)],
            ),
            ("current missing", vec![version(1, Previous)]),
            (
                "deleted on a live secret",
                vec![version(1, Previous), version(2, Deleted)],
            ),
            ("empty", vec![]),
        ] {
            let history = v0_2::SecretHistory {
                metadata: meta("db", 2, false),
                versions: bad,
            };
            let err = check_history("db", history).expect_err(what);
            is_garbage(err);
        }
        let other = v0_2::SecretHistory {
            metadata: meta("other", 1, false),
            versions: vec![version(1, Current)],
        };
        assert!(is_garbage(check_history("db", other).unwrap_err()).contains("asked for `db`"));
    }

    #[test]
    fn metadata_times_versions_and_listings_are_checked() {
        let mut backwards = meta("db", 1, false);
        backwards.updated = 0;
        assert!(is_garbage(check_metadata("db", backwards).unwrap_err()).contains("before"));
        let mut future = meta("db", 1, false);
        future.updated = MAX_TIMESTAMP + 1;
        is_garbage(check_metadata("db", future).unwrap_err());
        is_garbage(check_metadata("db", meta("db", 0, false)).unwrap_err());
        let mut bad_label = meta("db", 1, false);
        bad_label.labels = vec![("../x".into(), "v".into())];
        is_garbage(check_metadata("db", bad_label).unwrap_err());
        is_garbage(check_metadata_listing(false, vec![meta("a", 1, true)]).unwrap_err());
        assert!(check_metadata_listing(true, vec![meta("a", 1, true)]).is_ok());
        is_garbage(
            check_metadata_listing(true, vec![meta("a", 1, false), meta("a", 1, false)])
                .unwrap_err(),
        );
        assert_eq!(check_written(Some(2), 3).unwrap(), 3);
        is_garbage(check_written(Some(2), 2).unwrap_err());
        is_garbage(check_written(None, 1).unwrap_err());
    }
}
