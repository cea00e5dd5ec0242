//! How a flavorbox secret is laid out in AWS Secrets Manager: its name
//! (`<namespace>/<name>`), its `SecretString`
//! (`{"values": {k: v, ..}, "zenml_schema_name": "<schema>"}`), the body
//! of each write and its tags.
//!
//! Guards against: a name escaping its namespace (names are checked to be
//! flavorbox names: no `/`, no ARN); listing foreign secrets (an AWS name is
//! ours only if it has exactly our prefix and the rest is a flavorbox name);
//! guessing at data we did not write (a `SecretString` that is neither our
//! layout nor ZenML's flat one, `flavor_kit::zenml`, is a `backend` error
//! naming the secret, never its content).

use flavor_kit::names;
use flavor_kit::zenml::{self, DEFAULT_SCHEMA, SCHEMA_KEY, Stored};
use serde_json::{Value, json};

use crate::errors::BACKEND;
use crate::{Error, Secret};

/// The AWS secret name of flavorbox secret `name`.
pub fn aws_name(namespace: Option<&str>, name: &str) -> Result<String, Error> {
    names::check(name)?;
    Ok(match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    })
}

/// The flavorbox name of AWS secret `aws_name`, if it belongs to this
/// namespace (without one: if it has no `/` at all).
pub fn flavorbox_name(namespace: Option<&str>, aws_name: &str) -> Option<String> {
    let rest = match namespace {
        Some(ns) => aws_name.strip_prefix(ns)?.strip_prefix('/')?,
        None => aws_name,
    };
    names::is_valid(rest).then(|| rest.to_string())
}

/// The body of a write of `secret` to AWS secret `aws_name`, named by
/// `key` (`Name` to create it, `SecretId` to update it): its
/// `SecretString` and `token` (`versions::token`), which AWS makes the
/// version's id.
pub fn write(key: &str, aws_name: &str, secret: &Secret, token: &str) -> Value {
    json!({
        key: aws_name,
        "SecretString": encode(secret),
        "ClientRequestToken": token,
    })
}

/// The `Tags` of `secret`: its schema, mirrored for the console.
pub fn schema_tags(secret: &Secret) -> Value {
    tags(secret, &[])
}

/// The `Tags` of a new `secret` with `labels`: its schema, then each label.
pub fn tags(secret: &Secret, labels: &[(String, String)]) -> Value {
    let schema = (SCHEMA_KEY, secret.schema.as_str());
    let labels = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    Value::Array(
        std::iter::once(schema)
            .chain(labels)
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

/// The `SecretString` of `secret`.
pub fn encode(secret: &Secret) -> String {
    json!({ "values": zenml::values_object(secret), SCHEMA_KEY: secret.schema }).to_string()
}

/// The secret in a `GetSecretValue` reply.
pub fn decode(name: &str, reply: &Value) -> Result<Secret, Error> {
    let stored = Stored {
        backend: BACKEND,
        name,
    };
    let text = reply
        .get("SecretString")
        .and_then(Value::as_str)
        .ok_or_else(|| stored.corrupt("it has no SecretString"))?;
    let parsed: Value =
        serde_json::from_str(text).map_err(|_| stored.corrupt("its SecretString is not JSON"))?;
    let object = parsed
        .as_object()
        .ok_or_else(|| stored.corrupt("its SecretString is not a JSON object"))?;
    let schema = match object.get(SCHEMA_KEY) {
        Some(Value::String(schema)) => Some(schema.clone()),
        Some(_) => return Err(stored.corrupt("its schema name is not a string")),
        None => None,
    };
    // Our layout nests the values beside the schema; ZenML's flat layout
    // has every key but the schema's be a value.
    let ours = object.keys().all(|k| k == "values" || k == SCHEMA_KEY);
    let (schema, values) = match object.get("values") {
        Some(Value::Object(values)) if ours => (
            schema.ok_or_else(|| stored.corrupt("the schema name is missing"))?,
            stored.pairs(values)?,
        ),
        _ => (
            schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_string()),
            stored.split_flat(object)?.1,
        ),
    };
    Ok(Secret {
        name: name.to_string(),
        schema,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(values: &[(&str, &str)]) -> Secret {
        zenml::secret("db", "basic_auth", values)
    }

    fn reply(secret_string: &str) -> Value {
        json!({ "Name": "db", "SecretString": secret_string })
    }

    #[test]
    fn names_stay_inside_their_namespace() {
        assert_eq!(aws_name(Some("team/a"), "db").unwrap(), "team/a/db");
        assert_eq!(aws_name(None, "db").unwrap(), "db");
        for bad in ["", "a/b", "../x", "arn:aws:x", "-x"] {
            assert!(
                matches!(aws_name(None, bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(
            flavorbox_name(Some("team"), "team/db").as_deref(),
            Some("db")
        );
        assert_eq!(flavorbox_name(Some("team"), "teamx/db"), None);
        assert_eq!(flavorbox_name(Some("team"), "team/a/db"), None);
        assert_eq!(flavorbox_name(Some("team"), "other/db"), None);
        assert_eq!(flavorbox_name(None, "team/db"), None);
        assert_eq!(flavorbox_name(None, "db").as_deref(), Some("db"));
        assert_eq!(flavorbox_name(None, "x+y"), None);
    }

    #[test]
    fn the_schema_is_mirrored_as_a_tag_beside_the_labels() {
        let secret = secret(&[("k", "v")]);
        assert_eq!(
            schema_tags(&secret),
            json!([{ "Key": "zenml_schema_name", "Value": "basic_auth" }])
        );
        let labels = [("team".to_string(), "data".to_string())];
        assert_eq!(
            tags(&secret, &labels),
            json!([
                { "Key": "zenml_schema_name", "Value": "basic_auth" },
                { "Key": "team", "Value": "data" },
            ])
        );
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let original = secret(&[("username", "u"), ("password", "p\"w")]);
        let text = encode(&original);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[SCHEMA_KEY], "basic_auth");
        assert_eq!(parsed["values"]["password"], "p\"w");
        let back = decode("db", &reply(&text)).unwrap();
        assert_eq!(back.schema, "basic_auth");
        let mut values = back.values.clone();
        values.sort();
        assert_eq!(
            values,
            vec![
                ("password".to_string(), "p\"w".to_string()),
                ("username".to_string(), "u".to_string())
            ]
        );
    }

    #[test]
    fn decodes_zenml_flat_secrets() {
        let flat = decode("db", &reply(r#"{"user":"u","zenml_schema_name":"mysql"}"#)).unwrap();
        assert_eq!(flat.schema, "mysql");
        assert_eq!(flat.values, vec![("user".to_string(), "u".to_string())]);
        let bare = decode("db", &reply(r#"{"token":"t"}"#)).unwrap();
        assert_eq!(bare.schema, "arbitrary");
    }

    #[test]
    fn refuses_foreign_data_without_echoing_it() {
        for text in ["not json s3cr3t", "[1]", r#"{"k":1}"#, r#"{"values":{}}"#] {
            match decode("db", &reply(text)) {
                Err(Error::Backend(m)) => assert!(!m.contains("s3cr3t"), "{m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(decode("db", &json!({ "SecretBinary": "AA==" })).is_err());
    }
}
