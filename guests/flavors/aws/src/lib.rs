//! The `aws` flavor: AWS Secrets Manager over the JSON 1.1 protocol,
//! SigV4-signed, through the host's `wasi:http/outgoing-handler`.
//!
//! One AWS secret per flavorbox secret, named `<namespace>/<name>` (or
//! `<name>` without a namespace); its `SecretString` is
//! `{"values": {..}, "zenml_schema_name": "<schema>"}` and the schema is also
//! set as the tag `zenml_schema_name` (see `codec.rs`). This file only maps
//! the contract's operations (`flavor_kit::manager`) onto Secrets Manager
//! operations.
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

use flavor_kit::bulk::Listing;
use flavor_kit::errors::log_partial_update;
use flavor_kit::manager::Manager;
use flavor_kit::settings::About;
use flavor_kit::{Error, Secret, zenml};
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
        let mut body = codec::write("Name", &self.aws_name(&secret.name)?, &secret);
        body["Tags"] = codec::schema_tags(&secret);
        self.call("CreateSecret", &body, &zenml::values(&secret))?;
        Ok(())
    }

    fn get_secret(&self, name: &str) -> Result<Secret, Error> {
        let body = json!({ "SecretId": self.aws_name(name)? });
        let reply = self.call("GetSecretValue", &body, &[])?;
        codec::decode(name, &reply)
    }

    fn update_secret(&self, secret: Secret) -> Result<(), Error> {
        let name = self.aws_name(&secret.name)?;
        let body = codec::write("SecretId", &name, &secret);
        self.call("PutSecretValue", &body, &zenml::values(&secret))?;
        // The schema inside the SecretString is authoritative; the tag only
        // mirrors it for people browsing the console, so a refusal to retag
        // (e.g. no secretsmanager:TagResource permission) is only logged.
        let tag = json!({ "SecretId": name, "Tags": codec::schema_tags(&secret) });
        if let Err(e) = self.call("TagResource", &tag, &[]) {
            log_partial_update(&secret.name, "its schema tag", &e);
        }
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
        let listing = Listing {
            backend: BACKEND,
            op: "ListSecrets",
            token_field: "NextToken",
        };
        listing.read_all(|token| {
            let mut body = json!({ "MaxResults": PAGE_SIZE });
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
                    found.push((name, aws_name.to_string()));
                }
            }
            let next = reply.get("NextToken").and_then(Value::as_str);
            Ok((found, next.map(str::to_string)))
        })
    }

    fn delete_listed(&self, _name: &str, aws_name: &String) -> Result<(), Error> {
        let body = json!({ "SecretId": aws_name, "ForceDeleteWithoutRecovery": true });
        self.call("DeleteSecret", &body, &[])?;
        Ok(())
    }
}

flavor_kit::export_manager!(Client);
