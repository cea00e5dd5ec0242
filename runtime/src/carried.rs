//! What an export carries besides each secret's current values, where the
//! flavor keeps history (contract 0.2): its labels, and with `--history`
//! its earlier versions; and an import putting them back.
//!
//! Guards against history or labels lost without a word: an import of a
//! file carrying them into a manager whose flavor keeps one version is
//! refused before anything is written (`--values-only` imports the values
//! alone), and so is one that would replay a history over a secret that
//! exists (`--overwrite`). Against history put back half: a secret's
//! earlier versions are imported as its first version and the later ones
//! written after it, each checked against the version just written; if one
//! fails, every secret the import created is purged and the error says so.
//! Against a file's history read loosely: versions strictly increasing,
//! each version's values checked as any input, labels by the contract's
//! rules, all before anything is written. Against a file asking for more
//! writes than any export makes: at most `MAX_LISTED_VERSIONS` earlier
//! versions per secret (what a history lists) and
//! [`MAX_REPLAYED_VERSIONS`] in one import, refused before any write.

use std::collections::BTreeMap;

use flavorbox::contract::history::{Labels, MAX_LISTED_VERSIONS, VersionState};
use flavorbox::managers::{Deletion, LabelChange, SecretUpdate, SecretsApi};
use flavorbox::{Error, ErrorKind, Result, Secret};
use serde::Serialize;
use serde_json::Value;

use super::input;

/// Most earlier versions one import writes back, over all its secrets
/// (each is a write of its own): as many calls as a bulk deletion makes.
const MAX_REPLAYED_VERSIONS: usize = 10_000;

/// An earlier version of a secret, as exported.
#[derive(Serialize)]
pub struct PastVersion {
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub created: u64,
    #[serde(skip)]
    pub secret: Secret,
    pub schema: String,
    pub values: BTreeMap<String, String>,
}

/// What one secret of an export carries besides its values.
#[derive(Default)]
pub struct Carried {
    pub labels: Vec<(String, String)>,
    /// Oldest first.
    pub history: Vec<PastVersion>,
}

impl Carried {
    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.history.is_empty()
    }
}

/// Labels and, with `history`, the earlier versions of each of `secrets`;
/// `None` where the flavor keeps one version (refused with `history`).
pub fn gather(
    api: &dyn SecretsApi,
    secrets: &[Secret],
    history: bool,
) -> Result<Option<Vec<Carried>>> {
    if !api.keeps_history()? {
        if history {
            return Err(Error::invalid(format!(
                "--history: secrets manager `{}` keeps one version of each secret; export \
                 without it",
                api.manager_name()
            )));
        }
        return Ok(None);
    }
    let mut carried = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let kept = api.secret_history(secret.name())?;
        let mut past = Vec::new();
        let earlier = kept
            .versions
            .iter()
            .filter(|v| history && v.state == VersionState::Previous);
        for version in earlier {
            match api.get_secret_version(secret.name(), version.version) {
                Ok(old) => past.push(PastVersion {
                    version: version.version,
                    created: version.created,
                    schema: old.schema().to_string(),
                    values: old.values().clone(),
                    secret: old,
                }),
                // Listed, but its values are gone (forgotten or deleted by
                // another tool meanwhile): nothing to carry.
                Err(err) if err.is(ErrorKind::NotFound) => {}
                Err(err) => return Err(err),
            }
        }
        carried.push(Carried {
            labels: kept.metadata.labels.pairs().clone(),
            history: past,
        });
    }
    Ok(Some(carried))
}

/// The `labels` and `history` of the export entry of secret `name`
/// (fields it may lack), checked.
pub fn parse(
    entry: &mut serde_json::Map<String, Value>,
    name: &str,
    bad: &dyn Fn(String) -> Error,
) -> Result<Carried> {
    let mut carried = Carried::default();
    match entry.remove("labels") {
        None => {}
        Some(Value::Object(labels)) => {
            let pairs = input::string_pairs(labels, &format!("secret `{name}`: labels"))?;
            carried.labels = Labels::new(pairs)
                .map_err(|why| bad(format!("secret `{name}`: {why}")))?
                .pairs()
                .clone();
        }
        Some(_) => return Err(bad(format!("secret `{name}`: `labels` is not an object"))),
    }
    let versions = match entry.remove("history") {
        None => return Ok(carried),
        Some(Value::Array(versions)) => versions,
        Some(_) => return Err(bad(format!("secret `{name}`: `history` is not a list"))),
    };
    if versions.len() > MAX_LISTED_VERSIONS {
        return Err(bad(format!(
            "secret `{name}`: a history of {} versions, more than the {MAX_LISTED_VERSIONS} \
             one secret's history lists",
            versions.len()
        )));
    }
    let mut last = 0;
    for version in versions {
        let malformed = || {
            bad(format!(
                "secret `{name}`: a `history` entry is not {{\"version\", \"created\", \
                 \"schema\", \"values\"}}"
            ))
        };
        let Value::Object(mut version) = version else {
            return Err(malformed());
        };
        let number = version
            .get("version")
            .and_then(Value::as_u64)
            .ok_or_else(malformed)?;
        let created = version
            .get("created")
            .and_then(Value::as_u64)
            .ok_or_else(malformed)?;
        if number <= last {
            return Err(bad(format!(
                "secret `{name}`: history version {number} after version {last}; versions are \
                 listed oldest first, each once"
            )));
        }
        last = number;
        let Some(Value::String(schema)) = version.remove("schema") else {
            return Err(malformed());
        };
        let Some(Value::Object(values)) = version.remove("values") else {
            return Err(malformed());
        };
        let shown = format!("secret `{name}` version {number}");
        let pairs = input::string_pairs(values, &shown)?;
        flavorbox::secret::check_input(&pairs).map_err(|e| bad(format!("{shown}: {e}")))?;
        let secret = Secret::new(name.to_string(), schema.clone(), pairs)
            .map_err(|e| bad(format!("{shown}: {e}")))?;
        carried.history.push(PastVersion {
            version: number,
            created,
            schema,
            values: secret.values().clone(),
            secret,
        });
    }
    Ok(carried)
}

/// What an import writes first: each secret's oldest version where the
/// file carries its history (the later ones are written after it), else
/// the secret. `Err` if history or labels cannot be kept as asked.
pub fn first_writes(
    api: &dyn SecretsApi,
    secrets: &[Secret],
    carried: &[Carried],
    overwrite: bool,
) -> Result<Vec<Secret>> {
    if carried.iter().all(Carried::is_empty) {
        return Ok(secrets.to_vec());
    }
    let replays: usize = carried.iter().map(|c| c.history.len()).sum();
    if replays > MAX_REPLAYED_VERSIONS {
        return Err(Error::invalid(format!(
            "the file carries {replays} earlier versions, more than the \
             {MAX_REPLAYED_VERSIONS} one import writes back; import the values alone with \
             --values-only, or split the file"
        )));
    }
    if !api.keeps_history()? {
        return Err(Error::invalid(format!(
            "the file carries labels or history, and secrets manager `{}` keeps one version \
             of each secret: import the values alone with --values-only",
            api.manager_name()
        )));
    }
    if overwrite && carried.iter().any(|c| !c.history.is_empty()) {
        return Err(Error::invalid(
            "--overwrite cannot put a secret's history back over a secret that exists: \
             import with --skip-existing, or purge those secrets first",
        ));
    }
    Ok(secrets
        .iter()
        .zip(carried)
        .map(|(secret, carried)| match carried.history.first() {
            Some(oldest) => oldest.secret.clone(),
            None => secret.clone(),
        })
        .collect())
}

/// After an import wrote `first_writes`: the later versions of each secret
/// it created, oldest first, then its current values, each written only
/// over the version just written; then the labels of each secret it
/// created or overwrote. On a failure every created secret is purged.
/// Returns how many versions were replayed.
pub fn put_back(
    api: &dyn SecretsApi,
    secrets: &[Secret],
    carried: &[Carried],
    created: &[String],
    overwritten: &[String],
) -> Result<usize> {
    let mut replayed = 0;
    let mut replay = || -> Result<()> {
        for (secret, carried) in secrets.iter().zip(carried) {
            let name = secret.name();
            let was_created = created.iter().any(|c| c == name);
            if was_created && !carried.history.is_empty() {
                let mut at = api.get_secret_versioned(name)?;
                let later = carried.history[1..].iter().map(|p| &p.secret);
                for next in later.chain(std::iter::once(secret)) {
                    let expected = at.1.ok_or_else(|| {
                        Error::invalid(format!("secret `{name}` came back without a version"))
                    })?;
                    let (_, written) =
                        api.update_secret_if(name, &replacing(&at.0, next), expected)?;
                    at = (next.clone(), Some(written));
                    replayed += 1;
                }
            }
            let labelled = was_created || overwritten.iter().any(|o| o == name);
            if labelled && !carried.labels.is_empty() {
                let change = LabelChange {
                    set: carried.labels.clone(),
                    remove: Vec::new(),
                };
                api.label_secret(name, &change)?;
            }
        }
        Ok(())
    };
    if let Err(err) = replay() {
        let mut purged = 0;
        for name in created {
            if api.delete_secret(name, Deletion::Purge).is_ok() {
                purged += 1;
            }
        }
        return Err(err.map_detail(|detail| {
            format!(
                "{detail}; putting back history and labels failed, so the {purged} of {} \
                 secrets the import created were purged",
                created.len()
            )
        }));
    }
    Ok(replayed)
}

/// The update that turns `from`'s values into `to`'s: every key of `to`
/// set, every other key of `from` removed, `to`'s schema.
fn replacing(from: &Secret, to: &Secret) -> SecretUpdate {
    SecretUpdate {
        set: to.pairs(),
        remove: from
            .keys()
            .filter(|key| !to.values().contains_key(*key))
            .map(str::to_string)
            .collect(),
        schema: Some(to.schema().to_string()),
    }
}
