//! The `aws` flavor: AWS Secrets Manager over the JSON 1.1 protocol,
//! SigV4-signed, through the host's `wasi:http/outgoing-handler`.
//!
//! One AWS secret per flavorbox secret, named `<namespace>/<name>` (or
//! `<name>` without a namespace); its `SecretString` is
//! `{"values": {..}, "zenml_schema_name": "<schema>"}` and the schema is also
//! set as the tag `zenml_schema_name` (see `codec.rs`). This file only maps
//! the WIT exports onto Secrets Manager operations.
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

use flavor_kit::bulk::{self, Listing};
use flavor_kit::errors::log_partial_update;
use flavor_kit::exports::flavorbox::secrets::{metadata, secrets_manager};
use flavor_kit::{Error, FlavorInfo, Secret, zenml};
use serde_json::{Value, json};

use client::Client;
use errors::BACKEND;

/// AWS allows at most 100 results per `ListSecrets` page.
const PAGE_SIZE: u64 = 100;

struct Aws;

impl secrets_manager::Guest for Aws {
    fn register_secret(secret: Secret) -> Result<(), Error> {
        let client = Client::from_config()?;
        let mut body = codec::write("Name", &client.aws_name(&secret.name)?, &secret);
        body["Tags"] = codec::schema_tags(&secret);
        client.call("CreateSecret", &body, &zenml::values(&secret))?;
        Ok(())
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        let client = Client::from_config()?;
        let body = json!({ "SecretId": client.aws_name(&name)? });
        let reply = client.call("GetSecretValue", &body, &[])?;
        codec::decode(&name, &reply)
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        let client = Client::from_config()?;
        Ok(list(&client)?.into_iter().map(|(name, _)| name).collect())
    }

    fn update_secret(secret: Secret) -> Result<(), Error> {
        let client = Client::from_config()?;
        let name = client.aws_name(&secret.name)?;
        let body = codec::write("SecretId", &name, &secret);
        client.call("PutSecretValue", &body, &zenml::values(&secret))?;
        // The schema inside the SecretString is authoritative; the tag only
        // mirrors it for people browsing the console, so a refusal to retag
        // (e.g. no secretsmanager:TagResource permission) is only logged.
        let tag = json!({ "SecretId": name, "Tags": codec::schema_tags(&secret) });
        if let Err(e) = client.call("TagResource", &tag, &[]) {
            log_partial_update(&secret.name, "its schema tag", &e);
        }
        Ok(())
    }

    fn delete_secret(name: String) -> Result<(), Error> {
        let client = Client::from_config()?;
        let aws_name = client.aws_name(&name)?;
        // A forced DeleteSecret of a missing secret succeeds on AWS, so ask
        // first: only DescribeSecret answers ResourceNotFoundException.
        client.call("DescribeSecret", &json!({ "SecretId": aws_name }), &[])?;
        delete(&client, &aws_name)
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        bulk::require_force(force)?;
        let client = Client::from_config()?;
        bulk::delete_each(&list(&client)?, |(_, aws_name)| delete(&client, aws_name))
    }
}

fn delete(client: &Client, aws_name: &str) -> Result<(), Error> {
    let body = json!({ "SecretId": aws_name, "ForceDeleteWithoutRecovery": true });
    client.call("DeleteSecret", &body, &[])?;
    Ok(())
}

/// Every secret of this manager, as (flavorbox name, AWS name), sorted.
fn list(client: &Client) -> Result<Vec<(String, String)>, Error> {
    let listing = Listing {
        backend: BACKEND,
        op: "ListSecrets",
        token_field: "NextToken",
    };
    listing.read_all(|token| {
        let mut body = json!({ "MaxResults": PAGE_SIZE });
        if let Some(prefix) = client.list_prefix() {
            body["Filters"] = json!([{ "Key": "name", "Values": [prefix] }]);
        }
        if let Some(token) = token {
            body["NextToken"] = json!(token);
        }
        let reply = client.call("ListSecrets", &body, &[])?;
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
            if let Some(name) = client.flavorbox_name(aws_name) {
                found.push((name, aws_name.to_string()));
            }
        }
        let next = reply.get("NextToken").and_then(Value::as_str);
        Ok((found, next.map(str::to_string)))
    })
}

impl metadata::Guest for Aws {
    fn info() -> FlavorInfo {
        settings::ABOUT.info()
    }
}

flavor_kit::export_flavor!(Aws);
