//! The `gcp_secrets_manager` flavor: Google Cloud Secret Manager over its
//! v1 REST API, through the host's `wasi:http/outgoing-handler`. It speaks
//! contract 0.2 (`v0_2.rs`, which the host uses) and 0.1 (here, for hosts
//! that know only 0.1), on the same layout.
//!
//! One GCP secret per flavorbox secret; the layout (ids, labels,
//! annotations, payload) is in `codec.rs`, authentication in `auth.rs`.
//! register-secret creates the secret and adds its first version (and
//! removes the secret again if that fails, so no empty secret is left);
//! get-secret reads the latest version; get-all-secret-keys pages through a
//! label-filtered listing and keeps what the annotations prove ours;
//! update-secret adds a version (earlier versions stay, as GCP keeps
//! history) and re-labels the schema; delete-secret deletes the secret with
//! all its versions.
//!
//! Contract 0.2 on Secret Manager, and where the two differ:
//! - Versions are GCP's secret versions, numbered 1, 2, 3 by GCP and never
//!   reused, not after a destroy; a purged name written again starts at 1
//!   in both. The current version is the newest (`latest`); a version GCP
//!   lists as DESTROYED is `destroyed`, any other older one `previous`.
//!   GCP never forgets a version, but a history lists the newest 1000.
//! - Check-and-set: `addVersion` takes no etag or expected version, so a
//!   write (checked or not) reads the secret and its newest version, then
//!   claims the next number in the annotation `flavorbox-claim` with an
//!   update conditioned on the secret's etag, then adds the version. Two
//!   writers through this flavor are decided by GCP: the later one's
//!   update fails on the etag, or it reads a claim past the head and is a
//!   `conflict`. The window left: a version added without the claim (by
//!   another tool, ZenML, or this flavor's 0.1 exports) between the read
//!   and the `addVersion` is not seen; the write then lands after it with
//!   a number past `expected + 1`. No request GCP offers can close it.
//!   A claim whose write failed is taken back; one left by a call that
//!   died holds checked writes off for at most six minutes (the longest
//!   call deadline, plus clock skew), as a `conflict`.
//! - Soft delete: GCP has none for a secret. A soft delete marks the secret
//!   (annotation `flavorbox-deleted`: the head version, its schema, the
//!   time) and then disables the head version, so GCP itself refuses to
//!   read it; `restore-secret` enables it, then removes the mark; a purge
//!   deletes the secret. The mark decides (it is in every listing, so
//!   get-all-secret-keys needs no read per secret): a head another tool
//!   disabled or destroyed, unmarked, stays `current` but reads as
//!   `not-found`; a marked secret whose head was destroyed cannot be
//!   restored (`invalid`: purge it). The 0.1 exports know no mark: a
//!   0.1 host lists a soft-deleted secret, and reading it is `not-found`.
//! - Times: `created` is the secret's createTime; GCP records no update
//!   time for a secret, so `updated` is the latest of version creations
//!   and destructions and of the times the flavor records (annotation
//!   `flavorbox-changed`: labels set, soft delete, restore) from this
//!   guest's clock.
//! - Labels are the secret's GCP labels, but for the flavor's own
//!   `flavorbox_namespace` and `zenml_schema_name`. GCP's rules are
//!   narrower than the contract's: a key that is not a lowercase letter
//!   followed by up to 62 lowercase letters, digits, `_` or `-`, or a value
//!   that is not up to 63 of those, is refused with `invalid` naming the
//!   rule (register-secret and set-labels write nothing then). Labels
//!   another tool set that the contract cannot carry are left out.
//! - A version's resource does not say who added it: `author` is `none`.
//! - The schema of a soft-deleted secret is the one its mark recorded
//!   (the disabled head cannot be read); otherwise the head's payload's.
//!   Listings read each secret's versions and head: one listing plus two
//!   requests per secret, within the manager's HTTP request cap.
//! - validate-config checks the config alone (`settings.rs`: project id,
//!   endpoint, namespace, the key's shape), making no request.
//!
//! Guards against: namespaces seeing each other's secrets (ids carry the
//! namespace, listings and reads check the annotations); a half-finished
//! `register` hiding how far it got; a payload corrupted on the way (its
//! CRC32C is sent and checked both ways); a secret value in an error (every
//! Google message passes `redact` with the call's values, `client.rs`);
//! `delete-all-secrets(false)` deleting anything, a half-finished
//! `delete-all` hiding how far it got, and a listing that never ends (all
//! `flavor_kit::bulk`).

mod auth;
mod client;
mod codec;
mod errors;
mod history;
mod settings;
mod v0_2;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavor_kit::bulk::Listing;
use flavor_kit::errors::{Kind, describe, into_parts, log_partial_update};
use flavor_kit::http::Call;
use flavor_kit::manager::Manager;
use flavor_kit::settings::About;
use flavor_kit::{Error, Secret, zenml};
use serde_json::{Value, json};
use wasi_http_client::percent_encode;

use client::{Client, Outcome};
use errors::BACKEND;
use history::GcpSecret;

/// Secrets asked for per listing page (GCP allows up to 25,000; 500 keep a
/// page's reply far below the reply cap).
const PAGE_SIZE: usize = 500;

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

impl Manager for Client {
    const ABOUT: About = settings::ABOUT;
    /// The GCP secret id.
    type Listed = String;

    fn from_config() -> Result<Client, Error> {
        Client::load()
    }

    fn register_secret(&self, secret: Secret) -> Result<(), Error> {
        self.create(&secret, &BTreeMap::new())
    }

    fn get_secret(&self, name: &str) -> Result<Secret, Error> {
        let id = codec::secret_id(self.settings.namespace.as_deref(), name)?;
        Ok(self.access(&id, name, "latest")?.0)
    }

    fn update_secret(&self, secret: Secret) -> Result<(), Error> {
        let namespace = self.settings.namespace.as_deref();
        let id = codec::secret_id(namespace, &secret.name)?;
        let payload = codec::encode(&secret)?;
        self.add_version(&secret, &id, &payload)?;
        // The schema inside the payload is authoritative; the label only
        // mirrors it for filtering and the console, so a refusal to relabel
        // is only logged.
        let (labels, _) = codec::metadata(namespace, &secret);
        let mut url = self.secrets_url(Some(&id));
        url.query = "updateMask=labels".to_string();
        let op = format!("relabelling secret `{}`", secret.name);
        let body = json!({ "labels": labels });
        if let Err(e) = self.call(Call::patch(&op, &url, &body)) {
            log_partial_update(&secret.name, "its schema label", &e);
        }
        Ok(())
    }

    fn delete_secret(&self, name: &str) -> Result<(), Error> {
        let id = codec::secret_id(self.settings.namespace.as_deref(), name)?;
        self.delete_listed(name, &id)
    }

    fn list(&self) -> Result<Vec<(String, String)>, Error> {
        let listed = self.list_resources()?;
        Ok(listed.into_iter().map(|(name, s)| (name, s.id)).collect())
    }

    fn delete_listed(&self, name: &str, id: &String) -> Result<(), Error> {
        let url = self.secrets_url(Some(id));
        self.call(Call::delete(&format!("deleting secret `{name}`"), &url))?;
        Ok(())
    }
}

impl Client {
    /// Creates `secret` with the flavor's labels and `user_labels`, and adds
    /// its first version (removing the secret again if that fails, so no
    /// empty secret is left); `already-exists` if its id is taken.
    fn create(&self, secret: &Secret, user_labels: &BTreeMap<String, String>) -> Result<(), Error> {
        let namespace = self.settings.namespace.as_deref();
        let id = codec::secret_id(namespace, &secret.name)?;
        let payload = codec::encode(secret)?;
        let (mut labels, annotations) = codec::metadata(namespace, secret);
        for (key, value) in user_labels {
            labels[key.as_str()] = json!(value);
        }
        let mut url = self.secrets_url(None);
        url.query = format!("secretId={id}");
        let body = json!({
            "replication": { "automatic": {} },
            "labels": labels,
            "annotations": annotations,
        });
        let op = format!("creating secret `{}`", secret.name);
        self.call(Call::post(&op, &url, &body))?;
        if let Err(e) = self.add_version(secret, &id, &payload) {
            // Leave no secret without a value behind.
            let op = format!("removing the new secret `{}` again", secret.name);
            let removed = self.call(Call::delete(&op, &self.secrets_url(Some(&id))));
            let after = match removed {
                Ok(_) => "the new secret was removed again".to_string(),
                Err(r) => format!("the new secret is left without a value ({})", describe(&r)),
            };
            // The secret was just created: its absence or presence is not
            // what the caller asked about.
            let (kind, m) = into_parts(e);
            let kind = match kind {
                Kind::NotFound | Kind::AlreadyExists => Kind::Backend,
                kind => kind,
            };
            return Err(kind.error(format!("{m}; {after}")));
        }
        Ok(())
    }

    /// Version `version` (a number or `latest`) of the secret `name`, whose
    /// id is `id`, and its number; `not-found` where GCP refuses to read it
    /// (disabled, as a soft-deleted secret's head is, or destroyed).
    fn access(&self, id: &str, name: &str, version: &str) -> Result<(Secret, u64), Error> {
        let mut url = self.secrets_url(Some(id));
        url.path.push_str(&format!("/versions/{version}:access"));
        let op = format!("reading secret `{name}`");
        let reply = match self.call_unless(Call::get(&op, &url), &["FAILED_PRECONDITION"])? {
            Outcome::Done(reply) => reply,
            Outcome::Refused(e) => {
                let (_, m) = into_parts(e);
                return Err(Error::NotFound(format!(
                    "{m} (version {version} of secret `{name}` cannot be read)"
                )));
            }
        };
        let number = history::version_number(&reply)
            .ok_or_else(|| errors::malformed(&op, "the version has no number"))?;
        let payload = &reply["payload"];
        let data = BASE64
            .decode(payload["data"].as_str().unwrap_or(""))
            .map_err(|_| errors::malformed(&op, "the payload is not base64"))?;
        if let Some(expected) = crc_field(&payload["dataCrc32c"])
            && expected != CRC32C.checksum(&data)
        {
            return Err(errors::malformed(
                &op,
                "the payload does not match its CRC32C",
            ));
        }
        Ok((codec::decode(name, &data)?, number))
    }

    /// Adds `payload` as the newest version of secret `id`; the number GCP
    /// gave it.
    fn add_version(&self, secret: &Secret, id: &str, payload: &[u8]) -> Result<u64, Error> {
        let mut url = self.secrets_url(Some(id));
        url.path.push_str(":addVersion");
        let body = json!({
            "payload": {
                "data": BASE64.encode(payload),
                "dataCrc32c": CRC32C.checksum(payload).to_string(),
            }
        });
        let op = format!("adding a version to secret `{}`", secret.name);
        let reply = self.call(Call::post(&op, &url, &body).with_values(&zenml::values(secret)))?;
        history::version_number(&reply)
            .ok_or_else(|| errors::malformed(&op, "the new version has no number"))
    }

    /// Every secret of this manager's namespace, as (flavorbox name, GCP
    /// secret), sorted by name, soft-deleted ones too: pages of a
    /// label-filtered listing, kept where the annotations prove them ours.
    fn list_resources(&self) -> Result<Vec<(String, GcpSecret)>, Error> {
        let namespace = self.settings.namespace.as_deref();
        let filter = percent_encode(&codec::list_filter(namespace));
        let listing = Listing {
            backend: BACKEND,
            op: "listing secrets",
            token_field: "nextPageToken",
        };
        listing.read_all(|token| {
            let mut url = self.secrets_url(None);
            url.query = format!("pageSize={PAGE_SIZE}&filter={filter}");
            if let Some(token) = token {
                url.query.push_str("&pageToken=");
                url.query.push_str(&percent_encode(token));
            }
            let reply = self.call(Call::get(listing.op, &url))?;
            // An empty page omits `secrets` entirely (proto3 JSON).
            let page = match &reply["secrets"] {
                Value::Array(page) => page.as_slice(),
                Value::Null => &[],
                _ => return Err(listing.malformed("`secrets` is not a list")),
            };
            let mut found = Vec::new();
            for secret in page {
                if let Some(name) = codec::listed_name(namespace, secret) {
                    found.push((name, GcpSecret::parse(listing.op, secret)?));
                }
            }
            let next = reply["nextPageToken"].as_str();
            Ok((found, next.map(str::to_string)))
        })
    }
}

/// A CRC32C as the JSON mapping of an int64 gives it: a decimal string
/// (or, leniently, a number).
fn crc_field(value: &Value) -> Option<u32> {
    match value {
        Value::String(s) => s.parse::<u64>().ok().and_then(|v| u32::try_from(v).ok()),
        Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        _ => None,
    }
}

flavor_kit::export_manager!(Client);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_published_check_value() {
        assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
        assert_eq!(crc_field(&json!("3808858755")), Some(3_808_858_755));
        assert_eq!(crc_field(&json!(5)), Some(5));
        assert_eq!(crc_field(&json!("99999999999")), None);
        assert_eq!(crc_field(&json!(null)), None);
    }
}
