//! The `aws` flavor: AWS Secrets Manager over the JSON 1.1 protocol,
//! SigV4-signed, through the host's `wasi:http/outgoing-handler`. It speaks
//! contract 0.2 (`v0_2.rs`, which the host uses) and 0.1 (here, for hosts
//! that know only 0.1), on the same layout.
//!
//! One AWS secret per flavorbox secret, named `<namespace>/<name>` (or
//! `<name>` without a namespace); its `SecretString` is
//! `{"values": {..}, "zenml_schema_name": "<schema>"}` and the schema is also
//! set as the tag `zenml_schema_name` (see `codec.rs`).
//!
//! Contract 0.2 on Secrets Manager, and where the two differ:
//! - Versions are AWS versions. Each write sends the `ClientRequestToken`
//!   `flavorbox-v-<number, 20 digits>`, which AWS makes the version's
//!   `VersionId`, so the number is read back from the id (`versions.rs`).
//!   An update writes the number after the current one (and after every
//!   labelled one); a check-and-set update first checks that the current
//!   version is the expected one, and a second writer of the same number
//!   sends the same token, which AWS refuses (`ResourceExistsException`:
//!   `conflict`). AWS has no conditional write, so a version another tool
//!   writes between the check and the write is not caught. A writer with
//!   the very same values is taken by AWS as a retry and succeeds.
//!   Registration is `CreateSecret` with version 1's token plus a random
//!   tail, so that AWS (not a racy read first) refuses a taken name, by a
//!   soft-deleted secret too.
//! - A version another tool wrote (a random `VersionId`) is numbered only
//!   while it is current: the number after every flavorbox version AWS
//!   still lists; once superseded it is left out, as a forgotten version.
//!   A secret written before contract 0.2 reads as one version, 1. Versions
//!   AWS drops (deprecated ones, past 100 versions) are forgotten, as the
//!   contract allows. Should AWS drop every numbered version while more
//!   than 100 written by other tools follow, a number could come back.
//! - States come from staging labels: the `AWSCURRENT` version is
//!   `current` (`deleted` while the secret is scheduled for deletion);
//!   every other numbered version, `AWSPREVIOUS` or deprecated, is
//!   `previous` and readable by number. None is `destroyed`:
//!   `destroy-versions` refuses with `invalid` and the reason, since AWS
//!   cannot erase one version's values (only a purge erases them all);
//!   versions AWS forgot already are no error.
//! - A soft delete is `DeleteSecret` with `RecoveryWindowInDays` (config
//!   `recovery_window_days`, 7-30, default 30); AWS removes the secret for
//!   good when the window ends, as the contract allows. `restore-secret` is
//!   `RestoreSecret`; a purge is `DeleteSecret` with
//!   `ForceDeleteWithoutRecovery`, which AWS completes asynchronously, so
//!   registering the name again at once can be refused for a few seconds.
//!   AWS does not let anyone read a soft-deleted secret's values, so its
//!   schema in metadata is the schema tag's (`arbitrary` without one).
//! - Metadata is `DescribeSecret`: `created` is `CreatedDate`, `updated`
//!   `LastChangedDate` (AWS's "modified in any way"; `DeletedDate` is when
//!   AWS will remove the secret, so it is not used); a version's time is
//!   `ListSecretVersionIds`' `CreatedDate`, capped at `updated`. The schema
//!   is the `zenml_schema_name` tag, else the current value's.
//! - Labels are the secret's tags but `zenml_schema_name` (a reserved label
//!   key here). Tags the contract cannot carry (set by other tools) are
//!   left out of answers and kept by `set-labels`, which tags the new
//!   labels, then untags the labels it drops. AWS refuses some characters
//!   in tag values that the contract allows (`invalid`).
//! - AWS records who wrote a version in CloudTrail only: `author` is
//!   `none`.
//!
//! This file maps contract 0.1's operations (`flavor_kit::manager`) onto
//! the same operations, without versions: register and update write
//! numbered versions too, a read of a soft-deleted secret is `not-found`,
//! and delete purges.
//!
//! Guards against: namespaces seeing each other's secrets (every name goes
//! through `codec::aws_name`, every listed name through
//! `codec::flavorbox_name`); `delete-all-secrets(false)` deleting anything
//! and a half-finished `delete-all` hiding how far it got (both
//! `flavor_kit::bulk`).

mod client;
mod codec;
mod errors;
mod settings;
mod v0_2;
mod versions;

use flavor_kit::bulk::Listing;
use flavor_kit::manager::Manager;
use flavor_kit::settings::About;
use flavor_kit::{Error, Secret};
use serde_json::{Value, json};

use client::Client;
use errors::BACKEND;
use settings::Settings;

/// AWS allows at most 100 results per `ListSecrets` page.
const PAGE_SIZE: u64 = 100;

impl Manager for Client {
    const ABOUT: About = settings::ABOUT;
    /// The AWS name.
    type Listed = String;

    fn from_config() -> Result<Client, Error> {
        Ok(Client {
            settings: Settings::load()?,
        })
    }

    fn register_secret(&self, secret: Secret) -> Result<(), Error> {
        self.register(&secret, &[])
    }

    fn get_secret(&self, name: &str) -> Result<Secret, Error> {
        codec::decode(name, &self.get_value(name, None)?)
    }

    fn update_secret(&self, secret: Secret) -> Result<(), Error> {
        self.update(&secret, None)?;
        Ok(())
    }

    fn delete_secret(&self, name: &str) -> Result<(), Error> {
        let aws_name = self.aws_name(name)?;
        // A forced DeleteSecret of a missing secret succeeds on AWS, so ask
        // first: only DescribeSecret answers ResourceNotFoundException.
        self.call("DescribeSecret", &json!({ "SecretId": aws_name }), &[])?;
        self.delete_listed(name, &aws_name)
    }

    fn list(&self) -> Result<Vec<(String, String)>, Error> {
        self.list_entries(false, |name, aws_name, _| Ok((name, aws_name.to_string())))
    }

    fn delete_listed(&self, _name: &str, aws_name: &String) -> Result<(), Error> {
        let body = json!({ "SecretId": aws_name, "ForceDeleteWithoutRecovery": true });
        self.call("DeleteSecret", &body, &[])?;
        Ok(())
    }
}

impl Client {
    /// `each(name, aws name, entry)` of every `ListSecrets` entry of this
    /// namespace (soft-deleted ones too when `include_deleted`), sorted.
    fn list_entries<T: Ord>(
        &self,
        include_deleted: bool,
        mut each: impl FnMut(String, &str, &Value) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let listing = Listing {
            backend: BACKEND,
            op: "ListSecrets",
            token_field: "NextToken",
        };
        listing.read_all(|token| {
            let mut body = json!({ "MaxResults": PAGE_SIZE });
            if include_deleted {
                body["IncludePlannedDeletion"] = json!(true);
            }
            if let Some(prefix) = self.list_prefix() {
                body["Filters"] = json!([{ "Key": "name", "Values": [prefix] }]);
            }
            if let Some(token) = token {
                body["NextToken"] = json!(token);
            }
            let reply = self.call("ListSecrets", &body, &[])?;
            let page = reply
                .get("SecretList")
                .and_then(Value::as_array)
                .ok_or_else(|| listing.malformed("no SecretList"))?;
            let mut found = Vec::new();
            for entry in page {
                let aws_name = entry
                    .get("Name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| listing.malformed("an entry has no Name"))?;
                if let Some(name) = self.flavorbox_name(aws_name) {
                    found.push(each(name, aws_name, entry)?);
                }
            }
            let next = reply.get("NextToken").and_then(Value::as_str);
            Ok((found, next.map(str::to_string)))
        })
    }
}

flavor_kit::export_manager!(Client);
