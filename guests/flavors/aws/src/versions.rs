//! What AWS Secrets Manager says about a secret, in the terms of contract
//! 0.2: the version number a version id stands for, which version is the
//! head, where each version stands, the secret's times in milliseconds, its
//! schema tag and its labels (its other tags).
//!
//! A version flavorbox writes carries the `ClientRequestToken` (which AWS
//! makes its `VersionId`) [`token`] of its number,
//! `flavorbox-v-<20 digits>` (version 1 with a random tail,
//! [`first_token`]); [`number`] reads it back. A version another
//! tool wrote has some other id: it is numbered only while it is the
//! current one (the next number after every flavorbox version AWS still
//! lists, deprecated ones too), and is otherwise left out, as a forgotten
//! version.
//!
//! Guards against: a reply of another shape read as a secret (a missing or
//! malformed field is a `backend` error naming the field, never echoing
//! the reply); an id that only looks like ours read as a number (exactly
//! the prefix and 20 digits, never 0); a foreign current version taking a
//! number a flavorbox version has (it is numbered after all of them); tags
//! the contract cannot carry failing an answer (left out,
//! `flavor_kit::labels`); a version time after the secret's last change.

use flavor_kit::labels;
use flavor_kit::zenml::SCHEMA_KEY;
use serde_json::Value;

use crate::Error;
use crate::errors::BACKEND;

/// What every flavorbox version id starts with.
const TOKEN_PREFIX: &str = "flavorbox-v-";
/// Digits of the number in a version id (`u64::MAX` has 20).
const TOKEN_DIGITS: usize = 20;
/// The staging label of the current version.
pub const CURRENT: &str = "AWSCURRENT";

/// The `ClientRequestToken` (and so the `VersionId`) of version `number`
/// (2 and later): 32 characters, within AWS's 32-64. Every writer of that
/// number sends the same token, so AWS refuses all but the first
/// (`ResourceExistsException`) unless their values are the same.
pub fn token(number: u64) -> String {
    format!("{TOKEN_PREFIX}{number:0width$}", width = TOKEN_DIGITS)
}

/// The token of version 1, which creates the secret: [`token`]`(1)`, then
/// `-` and `tail` in hex (random bytes, at most [`MAX_TAIL_BYTES`]). AWS
/// takes a repeated `CreateSecret` with the same token and values as a
/// retry that succeeds; with a fresh tail every registration of a taken
/// name is `ResourceExistsException`, decided by AWS.
pub fn first_token(tail: &[u8]) -> String {
    let hex: String = tail
        .iter()
        .take(MAX_TAIL_BYTES)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{hex}", token(1))
}

/// Random bytes in the tail of version 1's token (49 characters in all).
pub const MAX_TAIL_BYTES: usize = 8;

/// The version number of AWS version id `id`, if flavorbox wrote it:
/// the prefix, 20 digits, and at most a `-` and a hex tail.
pub fn number(id: &str) -> Option<u64> {
    let rest = id.strip_prefix(TOKEN_PREFIX)?;
    let digits = rest.get(..TOKEN_DIGITS)?;
    let tail_ok = match &rest[TOKEN_DIGITS..] {
        "" => true,
        tail => tail.strip_prefix('-').is_some_and(|hex| {
            (1..=2 * MAX_TAIL_BYTES).contains(&hex.len())
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }),
    };
    if !tail_ok || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// Where a version stands, as the contract's `version-state` says it (AWS
/// never erases one version's values, so none is destroyed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Current,
    Previous,
    Deleted,
}

/// A secret as `DescribeSecret` (or an entry of `ListSecrets`) describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Described {
    /// Milliseconds since the Unix epoch.
    pub created: u64,
    /// `LastChangedDate` (never before `created`).
    pub updated: u64,
    /// Scheduled for deletion: soft-deleted.
    pub deleted: bool,
    /// The id of the version labelled `AWSCURRENT`, if any.
    pub current: Option<String>,
    /// The ids of every version that carries a staging label.
    pub labelled: Vec<String>,
    /// Every tag, as AWS lists them.
    pub tags: Vec<(String, String)>,
}

impl Described {
    /// The secret in `reply` to `op`; its versions are under `versions_key`
    /// (`VersionIdsToStages` from `DescribeSecret`,
    /// `SecretVersionsToStages` in `ListSecrets`).
    pub fn parse(op: &str, reply: &Value, versions_key: &str) -> Result<Described, Error> {
        let bad = |why: &str| malformed(op, why);
        let created = millis(&reply["CreatedDate"]).ok_or_else(|| bad("no usable CreatedDate"))?;
        let updated = match &reply["LastChangedDate"] {
            Value::Null => created,
            t => millis(t).ok_or_else(|| bad("LastChangedDate is no time"))?,
        };
        let mut current = None;
        let mut labelled = Vec::new();
        match &reply[versions_key] {
            Value::Null => {}
            Value::Object(versions) => {
                for (id, stages) in versions {
                    let stages = stage_names(stages).ok_or_else(|| bad("staging labels"))?;
                    if stages.iter().any(|s| s == CURRENT) {
                        current = Some(id.clone());
                    }
                    if !stages.is_empty() {
                        labelled.push(id.clone());
                    }
                }
            }
            _ => return Err(bad(&format!("{versions_key} is not an object"))),
        }
        let tags = match &reply["Tags"] {
            Value::Null => Vec::new(),
            Value::Array(tags) => tags
                .iter()
                .map(|tag| {
                    let field = |key: &str| tag[key].as_str().map(str::to_string);
                    field("Key").zip(field("Value"))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("a tag without Key or Value"))?,
            _ => return Err(bad("Tags is not a list")),
        };
        Ok(Described {
            created,
            updated: updated.max(created),
            deleted: !reply["DeletedDate"].is_null(),
            current,
            labelled,
            tags,
        })
    }

    /// The schema the `zenml_schema_name` tag names, if it is a name.
    pub fn schema_tag(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == SCHEMA_KEY)
            .map(|(_, v)| v.as_str())
            .filter(|v| flavor_kit::names::is_valid(v))
    }

    /// Every tag but the schema's that the contract can carry as a label,
    /// sorted by key, no more than it may carry.
    pub fn labels(&self) -> Vec<(String, String)> {
        labels::carriable(self.label_tags())
    }

    /// The keys of every tag that is a label: `set-labels` removes those
    /// it does not set (all of them, though only the first
    /// `flavor_kit::labels::MAX_LABELS` are answered).
    pub fn label_keys(&self) -> Vec<String> {
        self.label_tags()
            .filter(|(k, v)| labels::key_ok(k) && labels::value_ok(v))
            .map(|(k, _)| k)
            .collect()
    }

    fn label_tags(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.tags.iter().filter(|(k, _)| k != SCHEMA_KEY).cloned()
    }

    /// The highest number among the labelled versions and `head`: the
    /// next write takes the one after it.
    pub fn highest(&self, head: u64) -> u64 {
        self.labelled
            .iter()
            .filter_map(|id| number(id))
            .fold(head, u64::max)
    }
}

/// One version as `ListSecretVersionIds` lists it (its staging labels are
/// in the secret's [`Described`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AwsVersion {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created: u64,
}

impl AwsVersion {
    /// The version in entry `entry` of a `ListSecretVersionIds` reply.
    pub fn parse(op: &str, entry: &Value) -> Result<AwsVersion, Error> {
        let bad = |why: &str| malformed(op, why);
        let id = entry["VersionId"]
            .as_str()
            .ok_or_else(|| bad("a version without VersionId"))?;
        Ok(AwsVersion {
            id: id.to_string(),
            created: millis(&entry["CreatedDate"])
                .ok_or_else(|| bad("a version without a usable CreatedDate"))?,
        })
    }
}

/// The number of the current version, whose id is `current`, among
/// `versions` (every version AWS keeps): its own, or for a version another
/// tool wrote, the one after every flavorbox version's.
pub fn head(current: &str, versions: &[AwsVersion]) -> u64 {
    number(current).unwrap_or_else(|| {
        versions
            .iter()
            .filter_map(|v| number(&v.id))
            .max()
            .unwrap_or(0)
            + 1
    })
}

/// The history of a secret described by `described`, its head numbered
/// `head`, from `versions` (every version AWS keeps): (number, created,
/// state), oldest first. Times are capped at the secret's last change.
pub fn history(
    described: &Described,
    head: u64,
    versions: &[AwsVersion],
) -> Vec<(u64, u64, State)> {
    let head_state = if described.deleted {
        State::Deleted
    } else {
        State::Current
    };
    let mut listed: Vec<(u64, u64, State)> = versions
        .iter()
        .filter_map(|v| {
            let at = v.created.min(described.updated);
            if described.current.as_deref() == Some(v.id.as_str()) {
                Some((head, at, head_state))
            } else {
                Some((number(&v.id)?, at, State::Previous))
            }
        })
        .collect();
    listed.sort_by_key(|v| v.0);
    listed.dedup_by_key(|v| v.0);
    listed
}

/// AWS's staging labels in `stages`, if it is a list of strings.
fn stage_names(stages: &Value) -> Option<Vec<String>> {
    stages
        .as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// An AWS time (seconds since the Unix epoch, a JSON number, possibly with
/// a fraction) in milliseconds; `None` if it is none or before 1970.
pub fn millis(time: &Value) -> Option<u64> {
    let seconds = time.as_f64()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

fn malformed(op: &str, why: &str) -> Error {
    flavor_kit::errors::malformed(BACKEND, op, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(id: &str, created: f64, stages: &[&str]) -> Value {
        json!({ "VersionId": id, "CreatedDate": created, "VersionStages": stages })
    }

    fn versions(entries: &[Value]) -> Vec<AwsVersion> {
        entries
            .iter()
            .map(|e| AwsVersion::parse("op", e).unwrap())
            .collect()
    }

    fn described(current: &str, deleted: bool) -> Described {
        let reply = json!({
            "CreatedDate": 1_700_000_000.5,
            "LastChangedDate": 1_700_000_100,
            "DeletedDate": if deleted { json!(1_800_000_000) } else { Value::Null },
            "VersionIdsToStages": { current: ["AWSCURRENT"], token(1): ["AWSPREVIOUS"] },
            "Tags": [
                { "Key": "zenml_schema_name", "Value": "basic_auth" },
                { "Key": "team", "Value": "data" },
                { "Key": "Cost Center", "Value": "42" },
            ],
        });
        Described::parse("op", &reply, "VersionIdsToStages").unwrap()
    }

    #[test]
    fn version_ids_carry_their_numbers() {
        assert_eq!(token(3), "flavorbox-v-00000000000000000003");
        assert_eq!(token(u64::MAX).len(), 32);
        for n in [1, 42, u64::MAX] {
            assert_eq!(number(&token(n)), Some(n));
        }
        let first = first_token(&[0xab; 12]);
        assert_eq!(first, "flavorbox-v-00000000000000000001-abababababababab");
        assert_eq!(number(&first), Some(1));
        for foreign in [
            "flavorbox-v-00000000000000000000",
            "flavorbox-v-0000000000000000003",
            "flavorbox-v-000000000000000000003",
            "flavorbox-v-0000000000000000000x",
            "flavorbox-v-+0000000000000000003",
            "flavorbox-v-00000000000000000003-",
            "flavorbox-v-00000000000000000003-xyz",
            "flavorbox-v-00000000000000000003-00000000000000000",
            "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
        ] {
            assert_eq!(number(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn a_description_gives_times_state_schema_and_labels() {
        let d = described(&token(2), false);
        assert_eq!(
            (d.created, d.updated),
            (1_700_000_000_500, 1_700_000_100_000)
        );
        assert!(!d.deleted);
        assert_eq!(d.current.as_deref(), Some(token(2).as_str()));
        assert_eq!(d.schema_tag(), Some("basic_auth"));
        assert_eq!(d.labels(), [("team".to_string(), "data".to_string())]);
        assert_eq!(d.label_keys(), ["team"]);
        assert_eq!(d.highest(2), 2);
        assert!(described(&token(2), true).deleted);
    }

    #[test]
    fn refuses_replies_of_another_shape() {
        for bad in [
            json!({}),
            json!({ "CreatedDate": "yesterday" }),
            json!({ "CreatedDate": 1, "VersionIdsToStages": [] }),
            json!({ "CreatedDate": 1, "VersionIdsToStages": { "v": "AWSCURRENT" } }),
            json!({ "CreatedDate": 1, "Tags": [{ "Key": "k" }] }),
        ] {
            assert!(
                matches!(
                    Described::parse("op", &bad, "VersionIdsToStages"),
                    Err(Error::Backend(_))
                ),
                "{bad}"
            );
        }
        assert!(AwsVersion::parse("op", &json!({ "CreatedDate": 1 })).is_err());
    }

    #[test]
    fn the_history_numbers_our_versions_and_a_foreign_current_one_after_them() {
        let d = described(&token(3), false);
        let listed = versions(&[
            version(&token(1), 1_700_000_001.0, &["AWSPREVIOUS"]),
            version("someone-elses-version-id-0000000001", 1_700_000_002.0, &[]),
            version(&token(3), 1_700_000_003.0, &["AWSCURRENT"]),
            version(&token(2), 1_700_000_002.0, &[]),
        ]);
        assert_eq!(head(&token(3), &listed), 3);
        let states: Vec<(u64, State)> = history(&d, 3, &listed)
            .into_iter()
            .map(|(n, _, s)| (n, s))
            .collect();
        assert_eq!(
            states,
            [
                (1, State::Previous),
                (2, State::Previous),
                (3, State::Current)
            ]
        );

        // Another tool wrote the current version: it comes after ours, and
        // is the deleted one of a soft-deleted secret.
        let foreign = "someone-elses-version-id-0000000002";
        let d = described(foreign, true);
        let mut listed = listed;
        listed.push(AwsVersion {
            id: foreign.to_string(),
            created: 1_700_000_200_000,
        });
        assert_eq!(head(foreign, &listed), 4);
        let shown = history(&d, 4, &listed);
        assert_eq!(shown.last(), Some(&(4, 1_700_000_100_000, State::Deleted)));
        assert_eq!(shown.len(), 4);
        assert_eq!(head(foreign, &[]), 1);
    }

    #[test]
    fn times_are_seconds_with_fractions() {
        assert_eq!(millis(&json!(1_523_477_145.713)), Some(1_523_477_145_713));
        assert_eq!(millis(&json!(0)), Some(0));
        assert_eq!(millis(&json!(-1)), None);
        assert_eq!(millis(&json!("1")), None);
    }
}
