//! Contract 0.2 (`wit/0.2/flavor.wit`) on Secret Manager's own versions:
//! a flavorbox version is a GCP secret version (`versions/N`, added by
//! `addVersion`, read by `versions/N:access`); the history is the version
//! listing; a soft delete marks the secret (`flavorbox-deleted`) and
//! disables its head version, `restore-secret` enables it and removes the
//! mark; `destroy-versions` is `versions/N:destroy`; a purge deletes the
//! secret; labels are the secret's GCP labels (`history.rs`). The payload
//! of each version is 0.1's (`codec.rs`), so a secret the 0.1 flavor wrote
//! reads as its GCP history.
//!
//! Check-and-set: `addVersion` takes no precondition, so a write first
//! claims the version it is about to add (`flavorbox-claim`, the current
//! head plus one) with an update of the secret's annotations conditioned
//! on the etag read with the head, then adds it. Two writers through this
//! flavor cannot both pass: the second's update fails on the etag, or it
//! reads the first's claim, which is past the head while that write can
//! still be under way. See the crate's top comment for the window left.
//!
//! The flavor-kit core (HTTP, settings, tokens, errors) speaks contract
//! 0.1's types and imports, which the host links for every flavor; this
//! module generates 0.2's bindings for the exports only and converts at
//! the boundary. The component exports both contracts (the host takes the
//! newest: 0.2); its 0.1 exports are `lib.rs`.
//!
//! Longer than 500 lines: the exports and the steps on `Client` they share
//! (each one or two requests) read best beside each other; what parses
//! GCP's answers is `history.rs`.
//!
//! Guards against: a stale check-and-set write landing (above); a write,
//! label or read reaching a soft-deleted secret (each reads the secret's
//! mark first); a half-done soft delete or restore hiding how far it got
//! (a mark written before the head is disabled is taken back if disabling
//! fails; the head is enabled before the mark is removed); a claim whose
//! write failed holding off other writers (taken back; one left by a call
//! that died lapses after `history::CLAIM_LIFETIME_MS`); a secret GCP
//! lists that is not ours (the annotations decide, `codec::listed_name`);
//! `validate-config` reaching for the network or storage (it only checks
//! the config's shape, `settings.rs`).

flavor_kit::contract_0_2!("crate::v0_2::bindings");

use std::collections::BTreeMap;

use bindings::exports::flavorbox::secrets::{metadata, secrets_manager};
use bindings::flavorbox::secrets::types::{
    Error, FlavorInfo, Secret, SecretHistory, SecretMetadata, VersionInfo, VersionState,
    VersionedSecret,
};
use flavor_kit::errors::describe;
use flavor_kit::http::Call;
use flavor_kit::manager::Manager;
use flavor_kit::{bulk, names, zenml};
use serde_json::json;

use crate::client::{Client, Outcome};
use crate::codec;
use crate::history::{
    self, CHANGED_ANNOTATION, CLAIM_ANNOTATION, DELETED_ANNOTATION, GcpSecret, GcpState, GcpVersion,
};

/// How often a write retries when the secret changed between its read and
/// its etag-conditioned update.
const MAX_WRITE_ATTEMPTS: usize = 3;
/// The newest versions a history lists (the contract's limit; GCP lists
/// versions newest first, so one page of this size).
const MAX_LISTED_VERSIONS: usize = 1000;
/// What GCP answers an update whose etag is stale: `ABORTED` (what the
/// AIP on etags asks for), or `FAILED_PRECONDITION`, taken alike.
const STALE_ETAG: [&str; 2] = ["ABORTED", "FAILED_PRECONDITION"];

type KitError = flavor_kit::Error;

/// What an etag-conditioned update came to.
enum Patched {
    /// Done; the secret's new etag.
    Done(String),
    /// The secret changed since it was read: nothing was updated.
    Stale,
}

impl Client {
    /// The GCP secret of flavorbox secret `name`, soft-deleted or not;
    /// `not-found` if there is none, or it is not ours.
    fn resource(&self, name: &str) -> Result<GcpSecret, KitError> {
        let namespace = self.settings.namespace.as_deref();
        let id = codec::secret_id(namespace, name)?;
        let op = format!("reading secret `{name}`");
        let reply = self.call(Call::get(&op, &self.secrets_url(Some(&id))))?;
        if codec::listed_name(namespace, &reply).as_deref() != Some(name) {
            return Err(KitError::NotFound(format!(
                "secret `{name}`: GCP holds a secret of its id that this manager did not write"
            )));
        }
        GcpSecret::parse(&op, &reply)
    }

    /// The GCP secret of `name` if it is not soft-deleted.
    fn live_resource(&self, name: &str) -> Result<GcpSecret, KitError> {
        let secret = self.resource(name)?;
        if secret.deleted().is_some() {
            return Err(KitError::NotFound(format!(
                "secret `{name}` is deleted (restore it first)"
            )));
        }
        Ok(secret)
    }

    /// The newest `count` versions of `secret` (named `name`), oldest first.
    fn versions(
        &self,
        secret: &GcpSecret,
        name: &str,
        count: usize,
    ) -> Result<Vec<GcpVersion>, KitError> {
        let mut url = self.secrets_url(Some(&secret.id));
        url.path.push_str("/versions");
        url.query = format!("pageSize={count}");
        let op = format!("listing the versions of secret `{name}`");
        history::parse_versions(&op, &self.call(Call::get(&op, &url))?)
    }

    /// The head (newest) version of `secret`; `not-found` if it has none.
    fn head(&self, secret: &GcpSecret, name: &str) -> Result<GcpVersion, KitError> {
        self.versions(secret, name, 1)?
            .pop()
            .ok_or_else(|| KitError::NotFound(format!("secret `{name}` has no version in GCP")))
    }

    /// Version `version` (a number or `latest`) of `secret`, and its
    /// number.
    fn read(&self, secret: &GcpSecret, name: &str, version: &str) -> Result<(Secret, u64), Error> {
        let (read, number) = self.access(&secret.id, name, version)?;
        Ok((from_kit(read), number))
    }

    /// Replaces the labels and annotations of `secret`, if it is still as
    /// it was read (its etag).
    fn patch(
        &self,
        secret: &GcpSecret,
        op: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Patched, KitError> {
        let mut url = self.secrets_url(Some(&secret.id));
        url.query = "updateMask=labels,annotations".to_string();
        let body = json!({ "etag": secret.etag, "labels": labels, "annotations": annotations });
        match self.call_unless(Call::patch(op, &url, &body), &STALE_ETAG)? {
            Outcome::Done(reply) => Ok(Patched::Done(
                reply["etag"].as_str().unwrap_or_default().to_string(),
            )),
            Outcome::Refused(_) => Ok(Patched::Stale),
        }
    }

    /// Puts the annotations of `secret` back as they were read, after a
    /// step that followed their update failed; what became of them, for
    /// the error to say.
    fn take_back(&self, secret: &GcpSecret, etag: String, name: &str, what: &str) -> String {
        let now = GcpSecret {
            etag,
            ..secret.clone()
        };
        let op = format!("taking back the {what} of secret `{name}`");
        match self.patch(&now, &op, &secret.labels, &secret.annotations) {
            Ok(Patched::Done(_)) => format!("the {what} was taken back"),
            Ok(Patched::Stale) => format!("the {what} was left: the secret changed meanwhile"),
            Err(e) => format!("the {what} was left ({})", describe(&e)),
        }
    }

    /// `POST versions/<version>:<verb>` on `secret` (`enable`, `disable`,
    /// `destroy`); `Refused` if GCP says the version cannot (destroyed).
    fn version_verb(
        &self,
        secret: &GcpSecret,
        version: u64,
        verb: &str,
        op: &str,
    ) -> Result<Outcome, KitError> {
        let mut url = self.secrets_url(Some(&secret.id));
        url.path.push_str(&format!("/versions/{version}:{verb}"));
        let body = json!({});
        self.call_unless(Call::post(op, &url, &body), &["FAILED_PRECONDITION"])
    }

    /// The metadata of `secret` (named `name`) and its newest versions
    /// (at most [`MAX_LISTED_VERSIONS`], oldest first); `not-found` if it
    /// has no version.
    fn metadata(
        &self,
        name: &str,
        secret: &GcpSecret,
    ) -> Result<(SecretMetadata, Vec<GcpVersion>), Error> {
        let versions = self.versions(secret, name, MAX_LISTED_VERSIONS)?;
        let head = versions
            .last()
            .ok_or_else(|| Error::NotFound(format!("secret `{name}` has no version in GCP")))?;
        let deleted = secret.deleted();
        let schema = match &deleted {
            Some(mark) if names::is_valid(&mark.schema) => mark.schema.clone(),
            Some(_) => zenml::DEFAULT_SCHEMA.to_string(),
            None => match self.read(secret, name, &head.number.to_string()) {
                Ok((read, _)) => read.schema,
                // Disabled or destroyed by another tool.
                Err(Error::NotFound(_)) => zenml::DEFAULT_SCHEMA.to_string(),
                Err(e) => return Err(e),
            },
        };
        let metadata = SecretMetadata {
            name: name.to_string(),
            schema,
            created: secret.created,
            updated: secret.updated(&versions),
            current_version: head.number,
            deleted: deleted.is_some(),
            labels: secret.user_labels(),
        };
        Ok((metadata, versions))
    }

    /// Adds `secret` as the version after `head` of `gcp`, claiming it
    /// first (see the module comment): `Ok(None)` if the secret changed
    /// since it was read, else the number GCP gave the version.
    fn claim_and_add(
        &self,
        gcp: &GcpSecret,
        secret: &flavor_kit::Secret,
        payload: &[u8],
        head: u64,
    ) -> Result<Option<u64>, Error> {
        let name = &secret.name;
        let mut annotations = gcp.annotations.clone();
        annotations.insert(
            CLAIM_ANNOTATION.to_string(),
            history::claim(head + 1, history::now()),
        );
        // The schema label mirrors the payload's, for filtering and the
        // console (`codec.rs`).
        let mut labels = gcp.labels.clone();
        labels.insert(
            zenml::SCHEMA_KEY.to_string(),
            codec::label_value(&secret.schema),
        );
        let op = format!("claiming version {} of secret `{name}`", head + 1);
        let etag = match self.patch(gcp, &op, &labels, &annotations)? {
            Patched::Done(etag) => etag,
            Patched::Stale => return Ok(None),
        };
        match self.add_version(secret, &gcp.id, payload) {
            Ok(written) => Ok(Some(written)),
            Err(e) => {
                let after = self.take_back(gcp, etag, name, "claim");
                Err(flavor_kit::errors::map_message(e, |m| format!("{m}; {after}")).into())
            }
        }
    }
}

fn client() -> Result<Client, Error> {
    Ok(Client::load()?)
}

struct Gcp;

impl secrets_manager::Guest for Gcp {
    fn register_secret(secret: Secret, labels: Vec<(String, String)>) -> Result<(), Error> {
        let labels = history::gcp_labels(&labels)?;
        Ok(client()?.create(&to_kit(secret), &labels)?)
    }

    fn get_secret(name: String, version: Option<u64>) -> Result<VersionedSecret, Error> {
        let client = client()?;
        let gcp = client.live_resource(&name)?;
        let which = match version {
            // GCP reads version 0 as nothing at all: refuse it as the
            // contract does.
            Some(0) => return Err(Error::NotFound(format!("secret `{name}` has no version 0"))),
            Some(v) => v.to_string(),
            None => "latest".to_string(),
        };
        let (secret, version) = client.read(&gcp, &name, &which)?;
        Ok(VersionedSecret { secret, version })
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        let listed = client()?.list_resources()?;
        Ok(listed
            .into_iter()
            .filter(|(_, gcp)| gcp.deleted().is_none())
            .map(|(name, _)| name)
            .collect())
    }

    /// One listing, then per secret listed a version listing and (for a
    /// secret not soft-deleted) a read of its head, whose schema is in its
    /// payload.
    fn list_secrets(include_deleted: bool) -> Result<Vec<SecretMetadata>, Error> {
        let client = client()?;
        let mut listed = Vec::new();
        for (name, gcp) in client.list_resources()? {
            if !include_deleted && gcp.deleted().is_some() {
                continue;
            }
            match client.metadata(&name, &gcp) {
                Ok((metadata, _)) => listed.push(metadata),
                // No version (a register under way), or deleted meanwhile.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(listed)
    }

    fn get_metadata(name: String) -> Result<SecretMetadata, Error> {
        let client = client()?;
        let gcp = client.resource(&name)?;
        Ok(client.metadata(&name, &gcp)?.0)
    }

    fn list_versions(name: String) -> Result<SecretHistory, Error> {
        let client = client()?;
        let gcp = client.resource(&name)?;
        let (metadata, listed) = client.metadata(&name, &gcp)?;
        let versions = listed
            .iter()
            .map(|v| VersionInfo {
                version: v.number,
                created: v.created,
                state: match (v.number == metadata.current_version, v.state) {
                    (true, _) if metadata.deleted => VersionState::Deleted,
                    (true, _) => VersionState::Current,
                    (false, GcpState::Destroyed) => VersionState::Destroyed,
                    (false, _) => VersionState::Previous,
                },
                // A version's resource does not say who added it (that is
                // in Cloud Audit Logs, which this flavor does not read).
                author: None,
            })
            .collect();
        Ok(SecretHistory { metadata, versions })
    }

    fn update_secret(secret: Secret, expected: Option<u64>) -> Result<u64, Error> {
        let client = client()?;
        let secret = to_kit(secret);
        let name = secret.name.clone();
        let payload = codec::encode(&secret)?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let gcp = client.live_resource(&name)?;
            let head = client.head(&gcp, &name)?.number;
            if let Some(claimed) = gcp.write_under_way(head, history::now()) {
                return Err(Error::Conflict(format!(
                    "secret `{name}` is at version {head}, and a write of version {claimed} \
                     is under way"
                )));
            }
            if let Some(v) = expected
                && v != head
            {
                return Err(Error::Conflict(format!(
                    "secret `{name}` is at version {head}, not {v}"
                )));
            }
            if let Some(written) = client.claim_and_add(&gcp, &secret, &payload, head)? {
                return Ok(written);
            }
        }
        Err(Error::Conflict(format!(
            "secret `{name}` changed under {MAX_WRITE_ATTEMPTS} attempts to update it"
        )))
    }

    fn delete_secret(name: String, purge: bool) -> Result<(), Error> {
        let client = client()?;
        if purge {
            let gcp = client.resource(&name)?;
            return Ok(client.delete_listed(&name, &gcp.id)?);
        }
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let gcp = client.live_resource(&name)?;
            let head = client.head(&gcp, &name)?;
            let schema = match client.read(&gcp, &name, &head.number.to_string()) {
                Ok((read, _)) => read.schema,
                Err(Error::NotFound(_)) => zenml::DEFAULT_SCHEMA.to_string(),
                Err(e) => return Err(e),
            };
            let now = history::now();
            let mut annotations = gcp.annotations.clone();
            annotations.insert(
                DELETED_ANNOTATION.to_string(),
                history::deleted_mark(head.number, &schema, now),
            );
            annotations.insert(CHANGED_ANNOTATION.to_string(), now.to_string());
            let op = format!("marking secret `{name}` deleted");
            let etag = match client.patch(&gcp, &op, &gcp.labels, &annotations)? {
                Patched::Done(etag) => etag,
                Patched::Stale => continue,
            };
            if head.state != GcpState::Enabled {
                return Ok(());
            }
            let op = format!("disabling version {} of secret `{name}`", head.number);
            return match client.version_verb(&gcp, head.number, "disable", &op) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let after = client.take_back(&gcp, etag, &name, "deletion mark");
                    Err(flavor_kit::errors::map_message(e, |m| format!("{m}; {after}")).into())
                }
            };
        }
        Err(Error::Backend(format!(
            "secret `{name}` changed under {MAX_WRITE_ATTEMPTS} attempts to delete it"
        )))
    }

    fn restore_secret(name: String) -> Result<(), Error> {
        let client = client()?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let gcp = client.resource(&name)?;
            if gcp.deleted().is_none() {
                return Err(Error::Invalid(format!("secret `{name}` is not deleted")));
            }
            let head = client.head(&gcp, &name)?;
            if head.state == GcpState::Destroyed {
                return Err(Error::Invalid(format!(
                    "the current version {} of secret `{name}` was destroyed in GCP; it cannot \
                     be restored (purge it)",
                    head.number
                )));
            }
            // Enabled before the mark goes: a restore that stops between
            // the two leaves a deleted secret, restored by trying again.
            if head.state == GcpState::Disabled {
                let op = format!("enabling version {} of secret `{name}`", head.number);
                if let Outcome::Refused(e) =
                    client.version_verb(&gcp, head.number, "enable", &op)?
                {
                    return Err(e.into());
                }
            }
            let mut annotations = gcp.annotations.clone();
            annotations.remove(DELETED_ANNOTATION);
            annotations.insert(CHANGED_ANNOTATION.to_string(), history::now().to_string());
            let op = format!("restoring secret `{name}`");
            if let Patched::Done(_) = client.patch(&gcp, &op, &gcp.labels, &annotations)? {
                return Ok(());
            }
        }
        Err(Error::Backend(format!(
            "secret `{name}` changed under {MAX_WRITE_ATTEMPTS} attempts to restore it"
        )))
    }

    fn destroy_versions(name: String, versions: Vec<u64>) -> Result<(), Error> {
        let client = client()?;
        let gcp = client.resource(&name)?;
        let listed = client.versions(&gcp, &name, MAX_LISTED_VERSIONS)?;
        let head = listed.last().map_or(0, |v| v.number);
        if let Some(bad) = versions.iter().find(|&&v| v == 0 || v >= head) {
            return Err(Error::Invalid(format!(
                "version {bad} of secret `{name}` cannot be destroyed: its current version is \
                 {head} (update or delete the secret instead)"
            )));
        }
        for &version in &versions {
            let known = listed.iter().find(|v| v.number == version);
            if known.is_some_and(|v| v.state == GcpState::Destroyed) {
                continue;
            }
            let op = format!("destroying version {version} of secret `{name}`");
            match client.version_verb(&gcp, version, "destroy", &op) {
                // Destroyed meanwhile, or gone: its values are gone.
                Ok(_) | Err(KitError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn set_labels(name: String, labels: Vec<(String, String)>) -> Result<(), Error> {
        let user = history::gcp_labels(&labels)?;
        let client = client()?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let gcp = client.live_resource(&name)?;
            let mut annotations = gcp.annotations.clone();
            annotations.insert(CHANGED_ANNOTATION.to_string(), history::now().to_string());
            let op = format!("labelling secret `{name}`");
            let labels = gcp.with_user_labels(&user);
            if let Patched::Done(_) = client.patch(&gcp, &op, &labels, &annotations)? {
                return Ok(());
            }
        }
        Err(Error::Backend(format!(
            "secret `{name}` changed under {MAX_WRITE_ATTEMPTS} attempts to label it"
        )))
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        bulk::require_force(force)?;
        let client = client()?;
        Ok(bulk::delete_each(&client.list()?, |(name, id)| {
            client.delete_listed(name, id)
        })?)
    }

    fn validate_config(_config: Vec<(String, String)>) -> Result<(), Error> {
        // The `config` import reads the config being judged; loading it
        // makes no request.
        client().map(|_| ())
    }
}

impl metadata::Guest for Gcp {
    fn info() -> FlavorInfo {
        flavor_info(&<Client as Manager>::ABOUT)
    }
}

bindings::export!(Gcp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_errors_keep_their_kind() {
        let cases = [
            (KitError::NotFound("m".into()), "not-found"),
            (KitError::AlreadyExists("m".into()), "already-exists"),
            (KitError::Invalid("m".into()), "invalid"),
            (KitError::Denied("m".into()), "denied"),
            (KitError::Backend("m".into()), "backend"),
        ];
        for (kit, kind) in cases {
            let kind_of = match Error::from(kit) {
                Error::NotFound(m) if m == "m" => "not-found",
                Error::AlreadyExists(m) if m == "m" => "already-exists",
                Error::Invalid(m) if m == "m" => "invalid",
                Error::Denied(m) if m == "m" => "denied",
                Error::Backend(m) if m == "m" => "backend",
                _ => "other",
            };
            assert_eq!(kind_of, kind);
        }
    }
}
