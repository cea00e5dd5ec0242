//! Contract 0.2 (`wit/0.2/flavor.wit`) on AWS Secrets Manager's own
//! versions, soft delete and tags (the mapping and where it differs from
//! the contract: `lib.rs`; version ids and descriptions: `versions.rs`).
//!
//! The flavor-kit core (HTTP, settings, errors) speaks contract 0.1's types
//! and imports, which the host links for every flavor; this module
//! generates 0.2's bindings for the exports only and converts at the
//! boundary (both `flavor_kit::contract_0_2!`). The component exports both contracts (the host takes the
//! newest: 0.2); its 0.1 exports are `lib.rs`, on the operations here.
//!
//! Guards against: a stale check-and-set write landing (a mismatch seen
//! first writes nothing; two writers of the same number send the same
//! token, and AWS refuses the second; a write AWS took as a retry of an
//! older one is not reported as current); a read by number, a write or a
//! label reaching a soft-deleted secret (AWS refuses reads of one, and
//! every write describes the secret first); registering over a taken or
//! soft-deleted name (AWS decides: version 1's token is fresh each time);
//! `destroy-versions` claiming an erasure AWS cannot do (it refuses,
//! naming the versions AWS keeps); `validate-config` reaching for the
//! network (it only checks the config's shape, `settings.rs`).
//!
//! Over 500 lines on purpose: the contract's fourteen exports and the few
//! Secrets Manager reads they share (describe, list versions, number the
//! head) read best side by side; the pure parts are `versions.rs`.

flavor_kit::contract_0_2!("crate::v0_2::bindings");

use bindings::exports::flavorbox::secrets::{metadata, secrets_manager};
use bindings::flavorbox::secrets::types::{
    Error, FlavorInfo, Secret, SecretHistory, SecretMetadata, VersionInfo, VersionState,
    VersionedSecret,
};
use flavor_kit::errors::{log_partial_update, map_message};
use flavor_kit::manager::Manager;
use flavor_kit::zenml::{self, DEFAULT_SCHEMA, SCHEMA_KEY};
use flavor_kit::{bulk, names};
use serde_json::{Value, json};

use crate::client::Client;
use crate::codec;
use crate::errors::BACKEND;
use crate::versions::{self, AwsVersion, CURRENT, Described, State};

/// How often an update without an expected version retries when another
/// writer's version lands between its read and its write.
const MAX_WRITE_ATTEMPTS: usize = 3;
/// The newest versions a history lists (the contract's limit).
const MAX_LISTED_VERSIONS: usize = 1000;
/// AWS allows at most 100 results per `ListSecretVersionIds` page.
const VERSIONS_PAGE: u64 = 100;

type KitError = flavor_kit::Error;

/// For the 0.1 exports, whose contract has no `conflict`: an update that
/// lost every attempt to other writers is a `backend` failure there.
impl From<Error> for KitError {
    fn from(e: Error) -> KitError {
        match e {
            Error::NotFound(m) => KitError::NotFound(m),
            Error::AlreadyExists(m) => KitError::AlreadyExists(m),
            Error::Invalid(m) => KitError::Invalid(m),
            Error::Denied(m) => KitError::Denied(m),
            Error::Backend(m) | Error::Conflict(m) => KitError::Backend(m),
        }
    }
}

fn soft_deleted(name: &str) -> KitError {
    KitError::NotFound(format!("secret `{name}` is deleted (restore it first)"))
}

impl Client {
    /// `DescribeSecret` of `name`, soft-deleted or not; `not-found` if AWS
    /// has no such secret.
    pub(crate) fn describe(&self, name: &str) -> Result<Described, KitError> {
        let op = "DescribeSecret";
        let reply = self.call(op, &json!({ "SecretId": self.aws_name(name)? }), &[])?;
        Described::parse(op, &reply, "VersionIdsToStages")
    }

    /// [`describe`](Client::describe) of a secret that is not soft-deleted.
    fn live(&self, name: &str) -> Result<Described, KitError> {
        let described = self.describe(name)?;
        if described.deleted {
            return Err(soft_deleted(name));
        }
        Ok(described)
    }

    /// `GetSecretValue` of `name`: version `version_id`, or the current one.
    /// AWS refuses to read a soft-deleted secret (`InvalidRequestException`):
    /// that is `not-found` here, as the contract says.
    pub(crate) fn get_value(
        &self,
        name: &str,
        version_id: Option<&str>,
    ) -> Result<Value, KitError> {
        let mut body = json!({ "SecretId": self.aws_name(name)? });
        if let Some(id) = version_id {
            body["VersionId"] = json!(id);
        }
        match self.call("GetSecretValue", &body, &[]) {
            Err(KitError::Invalid(m)) => Err(KitError::NotFound(format!(
                "secret `{name}` cannot be read; it is deleted: {m}"
            ))),
            other => other,
        }
    }

    /// Every version AWS keeps of `name`, deprecated ones too.
    fn all_versions(&self, name: &str) -> Result<Vec<AwsVersion>, KitError> {
        let aws_name = self.aws_name(name)?;
        let op = "ListSecretVersionIds";
        let listing = bulk::Listing {
            backend: BACKEND,
            op,
            token_field: "NextToken",
        };
        listing.read_all(|token| {
            let mut body = json!({
                "SecretId": aws_name,
                "IncludeDeprecated": true,
                "MaxResults": VERSIONS_PAGE,
            });
            if let Some(token) = token {
                body["NextToken"] = json!(token);
            }
            let reply = self.call(op, &body, &[])?;
            let page = reply["Versions"]
                .as_array()
                .ok_or_else(|| listing.malformed("no Versions"))?;
            let versions = page
                .iter()
                .map(|entry| AwsVersion::parse(op, entry))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((versions, reply["NextToken"].as_str().map(str::to_string)))
        })
    }

    /// The id of the current version of `name` as `described`.
    fn current_id<'d>(&self, name: &str, described: &'d Described) -> Result<&'d str, KitError> {
        described.current.as_deref().ok_or_else(|| {
            KitError::NotFound(format!("secret `{name}` has no current value in AWS"))
        })
    }

    /// The number of the current version of `name` as `described` (one
    /// more listing when another tool wrote it).
    fn head(&self, name: &str, described: &Described) -> Result<u64, KitError> {
        let current = self.current_id(name, described)?;
        match versions::number(current) {
            Some(number) => Ok(number),
            None => Ok(versions::head(current, &self.all_versions(name)?)),
        }
    }

    /// The schema metadata reports: the `zenml_schema_name` tag, else the
    /// current value's (`arbitrary` for a soft-deleted secret, whose value
    /// AWS does not let anyone read).
    fn schema(&self, name: &str, described: &Described) -> Result<String, KitError> {
        if let Some(schema) = described.schema_tag() {
            return Ok(schema.to_string());
        }
        if described.deleted {
            return Ok(DEFAULT_SCHEMA.to_string());
        }
        Ok(codec::decode(name, &self.get_value(name, None)?)?.schema)
    }

    fn secret_metadata(
        &self,
        name: &str,
        described: &Described,
        head: u64,
    ) -> Result<SecretMetadata, KitError> {
        Ok(SecretMetadata {
            name: name.to_string(),
            schema: self.schema(name, described)?,
            created: described.created,
            updated: described.updated,
            current_version: head,
            deleted: described.deleted,
            labels: described.labels(),
        })
    }

    /// Creates `secret` as version 1 with `labels` (and the schema tag), in
    /// one `CreateSecret`.
    pub(crate) fn register(
        &self,
        secret: &flavor_kit::Secret,
        labels: &[(String, String)],
    ) -> Result<(), KitError> {
        reserved(labels)?;
        let tail = wasi::random::random::get_random_bytes(versions::MAX_TAIL_BYTES as u64);
        let token = versions::first_token(&tail);
        let mut body = codec::write("Name", &self.aws_name(&secret.name)?, secret, &token);
        body["Tags"] = codec::tags(secret, labels);
        match self.call("CreateSecret", &body, &zenml::values(secret)) {
            Ok(_) => Ok(()),
            // AWS refuses a name a soft-deleted secret holds as an invalid
            // request (moto as taken).
            Err(KitError::Invalid(m)) => match self.describe(&secret.name) {
                Ok(described) if described.deleted => Err(KitError::AlreadyExists(format!(
                    "secret `{}` exists, deleted (restore or purge it first): {m}",
                    secret.name
                ))),
                _ => Err(KitError::Invalid(m)),
            },
            Err(e) => Err(e),
        }
    }

    /// Writes `secret` as the next version if the current one is
    /// `expected` (any, when `None`); returns the version written.
    pub(crate) fn update(
        &self,
        secret: &flavor_kit::Secret,
        expected: Option<u64>,
    ) -> Result<u64, Error> {
        let name = &secret.name;
        let aws_name = self.aws_name(name)?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let described = self.live(name)?;
            let head = self.head(name, &described)?;
            if let Some(expected) = expected
                && expected != head
            {
                return Err(Error::Conflict(format!(
                    "secret `{name}` is at version {head}, not {expected}"
                )));
            }
            let next = described.highest(head) + 1;
            let body = codec::write("SecretId", &aws_name, secret, &versions::token(next));
            match self.call("PutSecretValue", &body, &zenml::values(secret)) {
                Ok(reply) if made_current(&reply) => {
                    self.retag(secret);
                    return Ok(next);
                }
                // Another writer wrote this number first (other values:
                // AWS refuses the token; the same values: AWS took this as
                // a retry of that write, which may no longer be current).
                Ok(_) | Err(KitError::AlreadyExists(_)) => {
                    if expected.is_some() {
                        return Err(Error::Conflict(format!(
                            "secret `{name}`: another writer wrote version {next} first"
                        )));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(format!(
            "secret `{name}` changed under {MAX_WRITE_ATTEMPTS} attempts to update it"
        )))
    }

    /// Mirrors the schema of `secret`, just written, in its tag. The schema
    /// inside the `SecretString` is authoritative; the tag serves people
    /// browsing the console and metadata listings, so a refusal to retag
    /// (e.g. no `secretsmanager:TagResource` permission) is only logged.
    fn retag(&self, secret: &flavor_kit::Secret) {
        let tagged = self.aws_name(&secret.name).and_then(|aws_name| {
            let body = json!({ "SecretId": aws_name, "Tags": codec::schema_tags(secret) });
            self.call("TagResource", &body, &[])
        });
        if let Err(e) = tagged {
            log_partial_update(&secret.name, "its schema tag", &e);
        }
    }

    /// The AWS id of version `version` of `name` as `described`, if AWS
    /// keeps it.
    fn version_id(
        &self,
        name: &str,
        described: &Described,
        version: u64,
    ) -> Result<Option<String>, KitError> {
        let all = self.all_versions(name)?;
        if let Some(v) = all
            .iter()
            .find(|v| versions::number(&v.id) == Some(version))
        {
            return Ok(Some(v.id.clone()));
        }
        let current = self.current_id(name, described)?;
        Ok((versions::head(current, &all) == version).then(|| current.to_string()))
    }

    /// Version `version` of `name` (the current one if `None`) and its
    /// number.
    fn read(&self, name: &str, version: Option<u64>) -> Result<VersionedSecret, KitError> {
        let reply = match version {
            // Version 1's id has a random tail, to be looked up; a later
            // one's id is its token, unless another tool wrote it.
            Some(v) if v > 1 => match self.get_value(name, Some(&versions::token(v))) {
                Err(KitError::NotFound(_)) => self.read_looked_up(name, v)?,
                other => other?,
            },
            Some(v) => self.read_looked_up(name, v)?,
            None => self.get_value(name, None)?,
        };
        let secret = codec::decode(name, &reply)?;
        let number = match version {
            Some(v) => v,
            None => {
                let id = reply["VersionId"].as_str().ok_or_else(|| {
                    flavor_kit::errors::malformed(BACKEND, "GetSecretValue", "no VersionId")
                })?;
                match versions::number(id) {
                    Some(n) => n,
                    None => versions::head(id, &self.all_versions(name)?),
                }
            }
        };
        Ok(VersionedSecret {
            secret: from_kit(secret),
            version: number,
        })
    }

    fn read_looked_up(&self, name: &str, version: u64) -> Result<Value, KitError> {
        let described = self.live(name)?;
        match self.version_id(name, &described, version)? {
            Some(id) => self.get_value(name, Some(&id)),
            None => Err(KitError::NotFound(format!(
                "secret `{name}` has no version {version} in AWS"
            ))),
        }
    }
}

/// Whether a `PutSecretValue` reply says the version is now current (AWS
/// and moto list its staging labels; a reply without them is taken as
/// AWS's word that the write landed).
fn made_current(reply: &Value) -> bool {
    match reply["VersionStages"].as_array() {
        Some(stages) => stages.iter().any(|s| s == CURRENT),
        None => true,
    }
}

/// `invalid` if `labels` would replace the schema's tag.
fn reserved(labels: &[(String, String)]) -> Result<(), KitError> {
    if labels.iter().any(|(k, _)| k == SCHEMA_KEY) {
        return Err(KitError::Invalid(format!(
            "label `{SCHEMA_KEY}` is reserved: the aws flavor keeps the schema in that tag"
        )));
    }
    Ok(())
}

fn client() -> Result<Client, KitError> {
    Client::from_config()
}

struct Aws;

impl secrets_manager::Guest for Aws {
    fn register_secret(secret: Secret, labels: Vec<(String, String)>) -> Result<(), Error> {
        Ok(client()?.register(&to_kit(secret), &labels)?)
    }

    fn get_secret(name: String, version: Option<u64>) -> Result<VersionedSecret, Error> {
        names::check(&name)?;
        Ok(client()?.read(&name, version)?)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        let listed = client()?.list()?;
        Ok(listed.into_iter().map(|(name, _)| name).collect())
    }

    /// One listing (its entries carry what `DescribeSecret` says); one more
    /// request for a secret whose current version another tool wrote, or
    /// that has no schema tag.
    fn list_secrets(include_deleted: bool) -> Result<Vec<SecretMetadata>, Error> {
        let client = client()?;
        let listed = client.list_entries(include_deleted, |name, _, entry| {
            Ok((
                name,
                Described::parse("ListSecrets", entry, "SecretVersionsToStages")?,
            ))
        })?;
        let mut all = Vec::new();
        for (name, described) in listed {
            // A secret without a value (created so by another tool) is no
            // secret of the contract's.
            if described.current.is_none() || (described.deleted && !include_deleted) {
                continue;
            }
            let head = client.head(&name, &described)?;
            all.push(client.secret_metadata(&name, &described, head)?);
        }
        Ok(all)
    }

    fn get_metadata(name: String) -> Result<SecretMetadata, Error> {
        let client = client()?;
        let described = client.describe(&name)?;
        let head = client.head(&name, &described)?;
        Ok(client.secret_metadata(&name, &described, head)?)
    }

    fn list_versions(name: String) -> Result<SecretHistory, Error> {
        let client = client()?;
        let described = client.describe(&name)?;
        let all = client.all_versions(&name)?;
        let head = versions::head(client.current_id(&name, &described)?, &all);
        let listed = versions::history(&described, head, &all);
        let skip = listed.len().saturating_sub(MAX_LISTED_VERSIONS);
        let versions = listed[skip..]
            .iter()
            .map(|&(version, created, state)| VersionInfo {
                version,
                created,
                state: match state {
                    State::Current => VersionState::Current,
                    State::Previous => VersionState::Previous,
                    State::Deleted => VersionState::Deleted,
                },
                // AWS records who wrote a version in CloudTrail only.
                author: None,
            })
            .collect();
        Ok(SecretHistory {
            metadata: client.secret_metadata(&name, &described, head)?,
            versions,
        })
    }

    fn update_secret(secret: Secret, expected: Option<u64>) -> Result<u64, Error> {
        client()?.update(&to_kit(secret), expected)
    }

    fn delete_secret(name: String, purge: bool) -> Result<(), Error> {
        let client = client()?;
        let described = client.describe(&name)?;
        let aws_name = client.aws_name(&name)?;
        if purge {
            return Ok(client.delete_listed(&name, &aws_name)?);
        }
        if described.deleted {
            return Err(soft_deleted(&name).into());
        }
        let body = json!({
            "SecretId": aws_name,
            "RecoveryWindowInDays": client.settings.recovery_window_days,
        });
        client.call("DeleteSecret", &body, &[])?;
        Ok(())
    }

    fn restore_secret(name: String) -> Result<(), Error> {
        let client = client()?;
        if !client.describe(&name)?.deleted {
            return Err(Error::Invalid(format!("secret `{name}` is not deleted")));
        }
        let body = json!({ "SecretId": client.aws_name(&name)? });
        client.call("RestoreSecret", &body, &[])?;
        Ok(())
    }

    /// AWS has no way to erase one version's values (only a purge erases
    /// them, all at once): versions it still keeps are refused, with the
    /// reason; versions it forgot already are no error.
    fn destroy_versions(name: String, destroyed: Vec<u64>) -> Result<(), Error> {
        let client = client()?;
        let described = client.describe(&name)?;
        let all = client.all_versions(&name)?;
        let head = versions::head(client.current_id(&name, &described)?, &all);
        let kept = versions::history(&described, head, &all);
        let highest = kept.iter().map(|v| v.0).fold(head, u64::max);
        if let Some(bad) = destroyed.iter().find(|&&v| v == head) {
            return Err(Error::Invalid(format!(
                "version {bad} of secret `{name}` is its current version (update or delete \
                 the secret instead)"
            )));
        }
        if let Some(bad) = destroyed.iter().find(|&&v| v == 0 || v > highest) {
            return Err(Error::Invalid(format!(
                "secret `{name}` never had a version {bad}: it is at version {head}"
            )));
        }
        let still_kept: Vec<String> = destroyed
            .iter()
            .filter(|v| kept.iter().any(|k| k.0 == **v))
            .map(u64::to_string)
            .collect();
        if still_kept.is_empty() {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "AWS Secrets Manager cannot erase the values of single versions: it keeps \
             version(s) {} of secret `{name}` (purge the secret to erase every version); \
             nothing was destroyed",
            still_kept.join(", ")
        )))
    }

    fn set_labels(name: String, labels: Vec<(String, String)>) -> Result<(), Error> {
        let client = client()?;
        reserved(&labels)?;
        let described = client.live(&name)?;
        let aws_name = client.aws_name(&name)?;
        if !labels.is_empty() {
            let tags: Vec<Value> = labels
                .iter()
                .map(|(k, v)| json!({ "Key": k, "Value": v }))
                .collect();
            let body = json!({ "SecretId": aws_name, "Tags": tags });
            client.call("TagResource", &body, &[])?;
        }
        let removed: Vec<String> = described
            .label_keys()
            .into_iter()
            .filter(|k| !labels.iter().any(|(key, _)| key == k))
            .collect();
        if !removed.is_empty() {
            let body = json!({ "SecretId": aws_name, "TagKeys": removed });
            let untagged = client.call("UntagResource", &body, &[]);
            untagged.map_err(|e| {
                map_message(e, |m| {
                    format!("secret `{name}` has its new labels but keeps its old ones: {m}")
                })
            })?;
        }
        Ok(())
    }

    /// Every secret, soft-deleted ones too: one listing, then one forced
    /// `DeleteSecret` each.
    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        bulk::require_force(force)?;
        let client = client()?;
        let listed =
            client.list_entries(true, |name, aws_name, _| Ok((name, aws_name.to_string())))?;
        Ok(bulk::delete_each(&listed, |(name, aws_name)| {
            client.delete_listed(name, aws_name)
        })?)
    }

    fn validate_config(_config: Vec<(String, String)>) -> Result<(), Error> {
        // The `config` import reads the config being judged.
        client().map(|_| ()).map_err(Error::from)
    }
}

impl metadata::Guest for Aws {
    fn info() -> FlavorInfo {
        flavor_info(&<Client as Manager>::ABOUT)
    }
}

bindings::export!(Aws);
