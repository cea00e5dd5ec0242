//! What Secret Manager says about a secret, in the terms of contract 0.2:
//! the secret resource (its etag, creation time, labels and the
//! annotations this flavor owns) and its versions (number, state, times),
//! and how the contract's labels map onto GCP's.
//!
//! The annotations the flavor owns beside `flavorbox-name` and
//! `flavorbox-namespace` (`codec.rs`):
//! * `flavorbox-deleted`: present while the secret is soft-deleted:
//!   `{"version": N, "schema": S, "at": MS}`, the head version disabled,
//!   its schema (a disabled version cannot be read) and when.
//! * `flavorbox-claim`: `{"version": N, "at": MS}`, the version the latest
//!   write through contract 0.2 claimed before adding it (see `v0_2.rs`).
//! * `flavorbox-changed`: `MS`, the last change GCP records no time for
//!   (labels set, a soft delete, a restore).
//!
//! Guards against: a reply of another shape read as a secret (a missing or
//! malformed field is a `backend` error naming the field, never echoing the
//! reply); annotations another tool wrote that do not parse (read as
//! absent: a mark that does not parse marks nothing); labels another tool
//! set that the contract cannot carry failing a whole answer (left out);
//! a label the contract allows but GCP refuses reaching GCP (refused here,
//! naming the rule); the flavor's own labels being overwritten or shown as
//! the user's (`flavorbox_namespace` and `zenml_schema_name` are reserved).

use std::collections::BTreeMap;

use flavor_kit::zenml::SCHEMA_KEY;
use serde_json::{Value, json};

use crate::Error;
use crate::codec::NAMESPACE_LABEL;
use crate::errors;

pub const DELETED_ANNOTATION: &str = "flavorbox-deleted";
pub const CLAIM_ANNOTATION: &str = "flavorbox-claim";
pub const CHANGED_ANNOTATION: &str = "flavorbox-changed";
/// How long a claim stands for a write still under way: the longest
/// deadline an operator may grant a call (300 s), plus a minute of clock
/// skew between the guests that write.
pub const CLAIM_LIFETIME_MS: u64 = 360_000;
/// Most labels a secret carries (the contract's limit).
pub const MAX_LABELS: usize = 32;
/// GCP's limits on a label key and value, in characters.
const MAX_GCP_LABEL: usize = 63;
/// The contract's limits on a label key and value, in characters.
const MAX_LABEL_KEY: usize = 128;
const MAX_LABEL_VALUE: usize = 256;

/// A version's state as GCP names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcpState {
    Enabled,
    Disabled,
    Destroyed,
}

/// One version as GCP lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpVersion {
    pub number: u64,
    /// Milliseconds since the Unix epoch.
    pub created: u64,
    pub destroyed: Option<u64>,
    pub state: GcpState,
}

/// A secret resource as GCP returns it (from a `get` or a listing).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GcpSecret {
    /// The secret id (the last segment of its name).
    pub id: String,
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub created: u64,
    /// Labels and annotations with string values (others are left out).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The soft-delete mark (`flavorbox-deleted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub version: u64,
    pub schema: String,
    pub at: u64,
}

/// A write's claim (`flavorbox-claim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub version: u64,
    pub at: u64,
}

fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl GcpSecret {
    /// The secret resource in `value`, a reply to (or an item of a reply
    /// to) `op`.
    pub fn parse(op: &str, value: &Value) -> Result<GcpSecret, Error> {
        let bad = |why: &str| errors::malformed(op, why);
        let id = value["name"]
            .as_str()
            .and_then(|n| n.rsplit('/').next())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad("a secret has no name"))?;
        Ok(GcpSecret {
            id: id.to_string(),
            etag: value["etag"].as_str().unwrap_or_default().to_string(),
            created: time_field(op, value, "createTime")?,
            labels: strings(&value["labels"]),
            annotations: strings(&value["annotations"]),
        })
    }

    /// The soft-delete mark, if the secret carries one that parses.
    pub fn deleted(&self) -> Option<Deleted> {
        let mark: Value = serde_json::from_str(self.annotations.get(DELETED_ANNOTATION)?).ok()?;
        Some(Deleted {
            version: mark["version"].as_u64()?,
            schema: mark["schema"].as_str()?.to_string(),
            at: mark["at"].as_u64()?,
        })
    }

    /// The latest claim, if one parses.
    pub fn claim(&self) -> Option<Claim> {
        let claim: Value = serde_json::from_str(self.annotations.get(CLAIM_ANNOTATION)?).ok()?;
        Some(Claim {
            version: claim["version"].as_u64()?,
            at: claim["at"].as_u64()?,
        })
    }

    /// Whether a write of a version after `head` is under way at `now`: a
    /// claim past the head that is younger than [`CLAIM_LIFETIME_MS`].
    pub fn write_under_way(&self, head: u64, now: u64) -> Option<u64> {
        let claim = self.claim()?;
        (claim.version > head && now < claim.at.saturating_add(CLAIM_LIFETIME_MS))
            .then_some(claim.version)
    }

    /// The secret's last change: the latest of its creation, every
    /// version's creation and destruction, and the changes the flavor
    /// recorded itself.
    pub fn updated(&self, versions: &[GcpVersion]) -> u64 {
        let recorded = self
            .annotations
            .get(CHANGED_ANNOTATION)
            .and_then(|t| t.parse::<u64>().ok());
        let deleted = self.deleted().map(|d| d.at);
        versions
            .iter()
            .flat_map(|v| [Some(v.created), v.destroyed])
            .chain([recorded, deleted])
            .flatten()
            .fold(self.created, u64::max)
    }

    /// The labels the contract can carry, sorted by key: the secret's GCP
    /// labels but the flavor's own, at most [`MAX_LABELS`].
    pub fn user_labels(&self) -> Vec<(String, String)> {
        let mut labels: Vec<(String, String)> = self
            .labels
            .iter()
            .filter(|(k, v)| !is_reserved(k) && contract_key(k) && contract_value(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.truncate(MAX_LABELS);
        labels
    }

    /// The GCP labels that set the user's labels to `user` (checked with
    /// [`gcp_labels`]), keeping the flavor's own.
    pub fn with_user_labels(&self, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = self
            .labels
            .iter()
            .filter(|(k, _)| is_reserved(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels
    }
}

/// The annotation value of a soft-delete mark.
pub fn deleted_mark(version: u64, schema: &str, at: u64) -> String {
    json!({ "version": version, "schema": schema, "at": at }).to_string()
}

/// The annotation value of a claim.
pub fn claim(version: u64, at: u64) -> String {
    json!({ "version": version, "at": at }).to_string()
}

fn is_reserved(key: &str) -> bool {
    key == NAMESPACE_LABEL || key == SCHEMA_KEY
}

fn contract_key(key: &str) -> bool {
    (1..=MAX_LABEL_KEY).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn contract_value(value: &str) -> bool {
    value.chars().count() <= MAX_LABEL_VALUE && !value.chars().any(char::is_control)
}

/// `labels` (checked by the host against the contract's rules) as GCP
/// labels; `invalid`, naming the label and the rule, for one GCP cannot
/// hold: a key must be a lowercase letter, then up to 62 lowercase letters,
/// digits, `_` or `-`; a value up to 63 of those (GCP also takes other
/// lowercase Unicode letters; the flavor takes only ASCII, whose case it
/// can judge as GCP does); `flavorbox_namespace` and `zenml_schema_name`
/// are the flavor's own.
pub fn gcp_labels(labels: &[(String, String)]) -> Result<BTreeMap<String, String>, Error> {
    let gcp_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
    let mut out = BTreeMap::new();
    for (key, value) in labels {
        if is_reserved(key) {
            return Err(Error::Invalid(format!(
                "label `{key}` is the gcp_secrets_manager flavor's own; choose another key"
            )));
        }
        let key_ok = key.len() <= MAX_GCP_LABEL
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key.bytes().all(gcp_char);
        if !key_ok {
            return Err(Error::Invalid(format!(
                "label `{key}`: GCP takes label keys of 1-63 lowercase letters, digits, `_` \
                 and `-`, starting with a letter"
            )));
        }
        if value.len() > MAX_GCP_LABEL || !value.bytes().all(gcp_char) {
            return Err(Error::Invalid(format!(
                "the value of label `{key}`: GCP takes label values of at most 63 lowercase \
                 letters, digits, `_` and `-`"
            )));
        }
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

/// The versions in a reply to a version listing `op`, oldest first (GCP
/// lists newest first; an empty page omits `versions`).
pub fn parse_versions(op: &str, reply: &Value) -> Result<Vec<GcpVersion>, Error> {
    let bad = |why: &str| errors::malformed(op, why);
    let listed = match &reply["versions"] {
        Value::Null => return Ok(Vec::new()),
        Value::Array(listed) => listed,
        _ => return Err(bad("`versions` is not a list")),
    };
    let mut versions = Vec::with_capacity(listed.len());
    for version in listed {
        let number = version_number(version).ok_or_else(|| bad("a version has no number"))?;
        let state = match version["state"].as_str() {
            Some("ENABLED") => GcpState::Enabled,
            Some("DISABLED") => GcpState::Disabled,
            Some("DESTROYED") => GcpState::Destroyed,
            _ => return Err(bad("a version has no known state")),
        };
        let destroyed = match version["destroyTime"].as_str() {
            None => None,
            Some(t) => Some(millis(t).ok_or_else(|| bad("a destroyTime is no time"))?),
        };
        versions.push(GcpVersion {
            number,
            created: time_field(op, version, "createTime")?,
            destroyed,
            state,
        });
    }
    versions.sort_by_key(|v| v.number);
    versions.dedup_by_key(|v| v.number);
    Ok(versions)
}

/// The number of the version resource `version` (its name ends in
/// `/versions/N`).
pub fn version_number(version: &Value) -> Option<u64> {
    let (rest, number) = version["name"].as_str()?.rsplit_once('/')?;
    if !rest.ends_with("/versions") {
        return None;
    }
    number.parse::<u64>().ok().filter(|&n| n > 0)
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

    const T1: &str = "2024-05-01T10:00:00.123456Z";
    const T2: &str = "2024-05-01T10:00:01Z";
    const T3: &str = "2024-05-01T10:00:02.5Z";

    fn secret(annotations: Value) -> GcpSecret {
        let reply = json!({
            "name": "projects/1/secrets/db",
            "etag": "\"e1\"",
            "createTime": T1,
            "labels": {
                "flavorbox_namespace": "_none", "zenml_schema_name": "arbitrary",
                "team": "data", "n": 1,
            },
            "annotations": annotations,
        });
        GcpSecret::parse("op", &reply).unwrap()
    }

    fn version(number: u64, state: &str, created: &str, destroyed: Option<&str>) -> Value {
        let mut v = json!({
            "name": format!("projects/1/secrets/db/versions/{number}"),
            "state": state,
            "createTime": created,
        });
        if let Some(t) = destroyed {
            v["destroyTime"] = json!(t);
        }
        v
    }

    #[test]
    fn versions_are_read_oldest_first_with_their_times() {
        let reply = json!({ "versions": [
            version(3, "ENABLED", T3, None),
            version(2, "DISABLED", T2, None),
            version(1, "DESTROYED", T1, Some(T3)),
        ]});
        let versions = parse_versions("op", &reply).unwrap();
        let numbers: Vec<_> = versions.iter().map(|v| (v.number, v.state)).collect();
        assert_eq!(
            numbers,
            [
                (1, GcpState::Destroyed),
                (2, GcpState::Disabled),
                (3, GcpState::Enabled)
            ]
        );
        assert_eq!(versions[0].created, 1_714_557_600_123);
        assert_eq!(versions[0].destroyed, Some(1_714_557_602_500));
        assert!(parse_versions("op", &json!({})).unwrap().is_empty());
        for bad in [
            json!({ "versions": {} }),
            json!({ "versions": [version(1, "GONE", T1, None)] }),
            json!({ "versions": [version(1, "ENABLED", "soon", None)] }),
            json!({ "versions": [{ "name": "projects/1/secrets/db", "state": "ENABLED", "createTime": T1 }] }),
        ] {
            assert!(
                matches!(parse_versions("op", &bad), Err(Error::Backend(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn marks_and_claims_read_back_and_bad_ones_mark_nothing() {
        let plain = secret(json!({ "flavorbox-name": "db" }));
        assert_eq!((plain.deleted(), plain.claim()), (None, None));
        assert_eq!(plain.created, 1_714_557_600_123);
        let marked = secret(json!({
            DELETED_ANNOTATION: deleted_mark(3, "basic_auth", 9_000_000_000_000),
            CLAIM_ANNOTATION: claim(3, 5),
            CHANGED_ANNOTATION: "8000000000000",
        }));
        assert_eq!(
            marked.deleted(),
            Some(Deleted {
                version: 3,
                schema: "basic_auth".into(),
                at: 9_000_000_000_000
            })
        );
        assert_eq!(marked.claim(), Some(Claim { version: 3, at: 5 }));
        assert_eq!(marked.updated(&[]), 9_000_000_000_000);
        let forged = secret(json!({ DELETED_ANNOTATION: "yes", CLAIM_ANNOTATION: "{}" }));
        assert_eq!((forged.deleted(), forged.claim()), (None, None));
    }

    #[test]
    fn a_claim_holds_off_writers_only_while_it_can_be_under_way() {
        let claimed = secret(json!({ CLAIM_ANNOTATION: claim(4, 1_000) }));
        assert_eq!(claimed.write_under_way(3, 1_000), Some(4));
        assert_eq!(claimed.write_under_way(4, 1_000), None);
        assert_eq!(
            claimed.write_under_way(3, 1_000 + CLAIM_LIFETIME_MS - 1),
            Some(4)
        );
        assert_eq!(claimed.write_under_way(3, 1_000 + CLAIM_LIFETIME_MS), None);
    }

    #[test]
    fn updated_is_the_latest_time_recorded() {
        let s = secret(json!({}));
        let versions = parse_versions(
            "op",
            &json!({ "versions": [version(1, "DESTROYED", T1, Some(T3)), version(2, "ENABLED", T2, None)] }),
        )
        .unwrap();
        assert_eq!(s.updated(&versions), millis(T3).unwrap());
        assert_eq!(s.updated(&[]), s.created);
    }

    #[test]
    fn labels_map_onto_gcp_or_are_refused_by_rule() {
        let s = secret(json!({}));
        assert_eq!(s.user_labels(), [("team".to_string(), "data".to_string())]);
        let pair = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let ok = gcp_labels(&pair("env-1_x", "prod_2-a")).unwrap();
        let labels = s.with_user_labels(&ok);
        assert_eq!(
            labels.keys().collect::<Vec<_>>(),
            ["env-1_x", "flavorbox_namespace", "zenml_schema_name"]
        );
        assert!(gcp_labels(&pair("empty", "")).is_ok());
        for (key, value) in [
            ("Env", "x"),
            ("1env", "x"),
            ("env.x", "x"),
            (&"k".repeat(64) as &str, "x"),
            ("env", "Prod"),
            ("env", "gold plated"),
            ("env", &"v".repeat(64)),
            ("zenml_schema_name", "x"),
            ("flavorbox_namespace", "x"),
        ] {
            assert!(
                matches!(gcp_labels(&pair(key, value)), Err(Error::Invalid(_))),
                "{key}={value}"
            );
        }
        let many: BTreeMap<String, String> =
            (0..40).map(|i| (format!("k{i:02}"), "v".into())).collect();
        let crowded = GcpSecret { labels: many, ..s };
        assert_eq!(crowded.user_labels().len(), MAX_LABELS);
    }
}
