//! What a KV version 2 metadata reply (`GET <mount>/metadata/<path>`) says
//! about a secret, in the terms of contract 0.2: which version is the head,
//! whether the secret is soft-deleted, each version's state, its times in
//! milliseconds, and its labels (`custom_metadata`).
//!
//! KV version 2 keeps a `deletion_time` and a `destroyed` flag per version;
//! the contract has one soft-delete mark per secret. The secret is
//! soft-deleted when its head version (`current_version`) is deleted or
//! destroyed; an older version deleted by another tool stays `previous`
//! (its values are kept, Vault's `undelete` brings them back) but cannot be
//! read by number. A `deletion_time` in the future is a deletion the
//! mount's setting delete_version_after scheduled: the version counts as
//! deleted from [`CLOCK_SKEW_MS`] before that time on.
//!
//! Guards against: a reply of another shape read as a secret (a missing or
//! malformed field is a `backend` error naming the field, never echoing
//! the reply); a head version missing from the list; labels another tool
//! set that the contract cannot carry failing the whole answer (they are
//! left out, `flavor_kit::labels`; `set-labels` replaces them with the
//! caller's); times running backwards between calls (`updated` is the
//! latest of every time Vault recorded).

use flavor_kit::labels;
use serde_json::{Map, Value};

use crate::Error;
use crate::errors;

/// How far this guest's clock and Vault's may disagree: a version whose
/// deletion Vault scheduled counts as deleted this long before the time.
pub const CLOCK_SKEW_MS: u64 = 60_000;

/// Where a version stands, as the contract's `version-state` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Current,
    Previous,
    Deleted,
    Destroyed,
}

/// One version as KV version 2 lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvVersion {
    pub number: u64,
    /// Milliseconds since the Unix epoch.
    pub created: u64,
    /// When Vault deleted it (or will, by the setting delete_version_after).
    pub deletion: Option<u64>,
    pub destroyed: bool,
}

impl KvVersion {
    /// Whether Vault hides its values at `now` (deleted or destroyed).
    fn hidden(&self, now: u64) -> bool {
        self.destroyed || self.deletion.is_some_and(|t| t <= now + CLOCK_SKEW_MS)
    }
}

/// A secret's KV version 2 metadata.
#[derive(Debug, Clone)]
pub struct KvMetadata {
    pub created: u64,
    pub updated: u64,
    /// `current_version`: the head, never 0 (a path without versions is
    /// `not-found`).
    pub head: u64,
    /// Every version Vault keeps (at most its `max_versions`), oldest first.
    pub versions: Vec<KvVersion>,
    /// `custom_metadata` as Vault returned it (`{}` when null).
    pub custom: Map<String, Value>,
}

impl KvMetadata {
    /// The metadata of secret `name` in the `data` of a metadata reply to
    /// `op`.
    pub fn parse(op: &str, name: &str, data: &Value) -> Result<KvMetadata, Error> {
        let bad = |why: &str| errors::malformed(op, why);
        let head = data["current_version"]
            .as_u64()
            .ok_or_else(|| bad("no current_version"))?;
        if head == 0 {
            return Err(Error::NotFound(format!(
                "secret `{name}` has no version in Vault"
            )));
        }
        let listed = data["versions"]
            .as_object()
            .ok_or_else(|| bad("no versions"))?;
        let mut versions = Vec::with_capacity(listed.len());
        for (number, version) in listed {
            let number = number
                .parse::<u64>()
                .map_err(|_| bad("a version number is not a number"))?;
            let deletion = match version["deletion_time"].as_str() {
                None | Some("") => None,
                Some(t) => Some(millis(t).ok_or_else(|| bad("a deletion_time is no time"))?),
            };
            versions.push(KvVersion {
                number,
                created: time_field(op, version, "created_time")?,
                deletion,
                destroyed: version["destroyed"].as_bool().unwrap_or(false),
            });
        }
        versions.sort_by_key(|v| v.number);
        if !versions.iter().any(|v| v.number == head) {
            return Err(bad("current_version is not among the versions"));
        }
        let custom = match &data["custom_metadata"] {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            _ => return Err(bad("custom_metadata is not an object")),
        };
        Ok(KvMetadata {
            created: time_field(op, data, "created_time")?,
            updated: time_field(op, data, "updated_time")?,
            head,
            versions,
            custom,
        })
    }

    fn head_version(&self) -> &KvVersion {
        self.versions
            .iter()
            .find(|v| v.number == self.head)
            .expect("parse checked that the head is listed")
    }

    /// Whether the secret is soft-deleted at `now`: its head version is
    /// deleted (or destroyed by another tool).
    pub fn deleted(&self, now: u64) -> bool {
        self.head_version().hidden(now)
    }

    /// Whether the head version was destroyed (by another tool: flavorbox
    /// never destroys it), so that `restore-secret` cannot bring it back.
    pub fn head_destroyed(&self) -> bool {
        self.head_version().destroyed
    }

    /// The state of `version` at `now`.
    pub fn state(&self, version: &KvVersion, now: u64) -> State {
        match (version.number == self.head, self.deleted(now)) {
            (true, false) => State::Current,
            (true, true) => State::Deleted,
            (false, _) if version.destroyed => State::Destroyed,
            (false, _) => State::Previous,
        }
    }

    /// Whether `version` can be read by number at `now`.
    pub fn readable(&self, number: u64, now: u64) -> bool {
        self.versions
            .iter()
            .any(|v| v.number == number && !v.hidden(now))
    }

    /// The secret's last change: the latest of Vault's `updated_time`,
    /// every version's creation and every deletion that has happened.
    pub fn updated(&self, now: u64) -> u64 {
        let deletions = self
            .versions
            .iter()
            .filter_map(|v| v.deletion)
            .filter(|&t| t <= now + CLOCK_SKEW_MS);
        let created = self.versions.iter().map(|v| v.created);
        deletions
            .chain(created)
            .fold(self.updated.max(self.created), u64::max)
    }

    /// The labels the contract can carry (`flavor_kit::labels`): string
    /// values of carriable entries, sorted by key.
    pub fn labels(&self) -> Vec<(String, String)> {
        labels::carriable(
            self.custom
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))),
        )
    }
}

/// `custom_metadata` for `labels`.
pub fn custom_metadata(labels: &[(String, String)]) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The time in field `key` of `object`, in milliseconds.
fn time_field(op: &str, object: &Value, key: &str) -> Result<u64, Error> {
    flavor_kit::clock::time_field(errors::BACKEND, op, object, key)
}

/// RFC 3339 times and now, in milliseconds since the Unix epoch.
pub use flavor_kit::clock::{now_millis as now, rfc3339_millis as millis};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T1: &str = "2024-05-01T10:00:00.123456789Z";
    const T2: &str = "2024-05-01T10:00:01Z";
    const T3: &str = "2024-05-01T10:00:02.5Z";

    fn reply(versions: Value, head: u64) -> Value {
        json!({
            "created_time": T1,
            "updated_time": T2,
            "current_version": head,
            "versions": versions,
            "custom_metadata": {"team": "data", "bad key": "x", "n": "a\u{7}b"},
        })
    }

    fn version(created: &str, deletion: &str, destroyed: bool) -> Value {
        json!({"created_time": created, "deletion_time": deletion, "destroyed": destroyed})
    }

    #[test]
    fn reads_times_in_milliseconds() {
        assert_eq!(millis(T1), Some(1_714_557_600_123));
        assert_eq!(millis(T3), Some(1_714_557_602_500));
        assert_eq!(millis("1969-12-31T23:59:59Z"), None);
        assert_eq!(millis("yesterday"), None);
    }

    #[test]
    fn states_follow_the_head_version() {
        let versions = json!({
            "1": version(T1, "", true),
            "2": version(T1, T2, false),
            "3": version(T2, "", false),
        });
        let meta = KvMetadata::parse("op", "db", &reply(versions, 3)).unwrap();
        let now = millis(T3).unwrap();
        let states: Vec<_> = meta.versions.iter().map(|v| meta.state(v, now)).collect();
        assert_eq!(states, [State::Destroyed, State::Previous, State::Current]);
        assert!(!meta.deleted(now));
        assert!(!meta.readable(1, now) && !meta.readable(2, now) && meta.readable(3, now));
        assert!(!meta.readable(4, now));
        assert_eq!(meta.updated(now), millis(T2).unwrap());
        assert_eq!(meta.labels(), [("team".to_string(), "data".to_string())]);
    }

    #[test]
    fn a_deleted_head_is_a_soft_deleted_secret_once_its_time_has_come() {
        let versions = json!({"1": version(T1, "", false), "2": version(T2, T3, false)});
        let meta = KvMetadata::parse("op", "db", &reply(versions, 2)).unwrap();
        let deleted_at = millis(T3).unwrap();
        assert!(meta.deleted(deleted_at));
        assert_eq!(meta.state(&meta.versions[1], deleted_at), State::Deleted);
        assert_eq!(meta.state(&meta.versions[0], deleted_at), State::Previous);
        assert_eq!(meta.updated(deleted_at), deleted_at);
        // Scheduled by delete_version_after, far ahead: not deleted yet.
        let long_before = deleted_at - 10 * CLOCK_SKEW_MS;
        assert!(!meta.deleted(long_before));
        assert_eq!(meta.updated(long_before), millis(T2).unwrap());
    }

    #[test]
    fn refuses_replies_of_another_shape() {
        let ok = json!({"1": version(T1, "", false)});
        assert!(matches!(
            KvMetadata::parse("op", "db", &reply(ok.clone(), 0)),
            Err(Error::NotFound(_))
        ));
        for bad in [
            reply(ok.clone(), 2),
            reply(json!({"x": version(T1, "", false)}), 1),
            reply(json!({"1": version("soon", "", false)}), 1),
            json!({"current_version": 1, "versions": ok}),
        ] {
            assert!(
                matches!(KvMetadata::parse("op", "db", &bad), Err(Error::Backend(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn labels_round_trip_through_custom_metadata() {
        let labels = vec![("a".to_string(), "1".to_string())];
        assert_eq!(custom_metadata(&labels), json!({"a": "1"}));
        let many: Map<String, Value> = (0..40).map(|i| (format!("k{i:02}"), json!("v"))).collect();
        let meta = KvMetadata {
            created: 0,
            updated: 0,
            head: 1,
            versions: Vec::new(),
            custom: many,
        };
        assert_eq!(meta.labels().len(), labels::MAX_LABELS);
    }
}
