//! How a flavorbox secret is laid out in Vault's KV version 2: one Vault
//! secret per flavorbox secret at `<mount>/data/<path>[/<namespace>]/<name>`,
//! its data the key-values plus `zenml_schema_name` (ZenML's flat layout,
//! so ZenML reads what flavorbox writes and vice versa).
//!
//! Vault paths take every flavorbox name as it is: names are
//! `[A-Za-z0-9_.-]`, start with a letter or digit (so a name is never `.`
//! or `..`) and are case-sensitive in Vault as in flavorbox.
//!
//! Guards against: a name escaping its prefix (checked to be a flavorbox
//! name: no `/`, no `..`); a listed sub-folder (`other/`) or foreign key
//! read as one of ours; guessing at data we did not write (a value that is
//! not a string is a `backend` error naming the secret, never its content);
//! a user key colliding with the schema's key (refused as `invalid`).

use serde_json::{Map, Value};

use crate::settings::is_segment;
use crate::{Error, Secret};

/// Where ZenML kept the schema name.
pub const SCHEMA_KEY: &str = "zenml_schema_name";
/// The schema assumed for a flat ZenML-style secret that names none.
const DEFAULT_SCHEMA: &str = "arbitrary";

/// Checks that `name` is a flavorbox secret name.
pub fn check_name(name: &str) -> Result<(), Error> {
    if is_segment(name) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{name}` is not a valid secret name"
        )))
    }
}

/// The KV data of `secret`.
pub fn encode(secret: &Secret) -> Result<Value, Error> {
    let mut data = Map::new();
    for (key, value) in &secret.values {
        if key == SCHEMA_KEY {
            return Err(Error::Invalid(format!(
                "key `{SCHEMA_KEY}` is reserved: the vault flavor stores the schema under it"
            )));
        }
        data.insert(key.clone(), Value::String(value.clone()));
    }
    data.insert(SCHEMA_KEY.to_string(), Value::String(secret.schema.clone()));
    Ok(Value::Object(data))
}

/// The secret `name` from the KV data in a read reply (`data.data`).
pub fn decode(name: &str, data: &Value) -> Result<Secret, Error> {
    let corrupt = |why: &str| {
        Error::Backend(format!(
            "Vault secret of `{name}` is not a flavorbox secret: {why}"
        ))
    };
    let object = data
        .as_object()
        .ok_or_else(|| corrupt("its data is not a JSON object"))?;
    let mut schema = DEFAULT_SCHEMA.to_string();
    let mut values = Vec::with_capacity(object.len());
    for (key, value) in object {
        let Value::String(value) = value else {
            return Err(corrupt("a value is not a string"));
        };
        if key == SCHEMA_KEY {
            schema = value.clone();
        } else {
            values.push((key.clone(), value.clone()));
        }
    }
    if values.is_empty() {
        return Err(corrupt("it holds no key-values"));
    }
    Ok(Secret {
        name: name.to_string(),
        schema,
        values,
    })
}

/// The flavorbox names among the keys of a metadata LIST reply: entries
/// ending in `/` are folders (other namespaces, other tools) and skipped,
/// as is anything that is not a flavorbox name.
pub fn names(keys: &[Value]) -> Result<Vec<String>, Error> {
    let mut names = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key
            .as_str()
            .ok_or_else(|| Error::Backend("a listed Vault key is not a string".into()))?;
        if is_segment(key) {
            names.push(key.to_string());
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The secret's values, to be masked in any message about it.
pub fn values(secret: &Secret) -> Vec<&str> {
    secret.values.iter().map(|(_, v)| v.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(values: &[(&str, &str)]) -> Secret {
        Secret {
            name: "db".into(),
            schema: "basic_auth".into(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let original = secret(&[("username", "u"), ("password", "p\"w\n")]);
        let data = encode(&original).unwrap();
        assert_eq!(data[SCHEMA_KEY], "basic_auth");
        assert_eq!(data["password"], "p\"w\n");
        let back = decode("db", &data).unwrap();
        assert_eq!(back.schema, "basic_auth");
        let mut values = back.values;
        values.sort();
        assert_eq!(
            values,
            [
                ("password".to_string(), "p\"w\n".to_string()),
                ("username".to_string(), "u".to_string())
            ]
        );
    }

    #[test]
    fn the_schema_key_is_reserved() {
        assert!(matches!(
            encode(&secret(&[(SCHEMA_KEY, "x")])),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn reads_zenml_secrets_and_refuses_foreign_data_without_echoing_it() {
        let flat = decode("db", &json!({"token": "t"})).unwrap();
        assert_eq!(flat.schema, "arbitrary");
        for data in [
            json!("s3cr3t"),
            json!({"k": 1}),
            json!({SCHEMA_KEY: "x"}),
            json!({"k": {"nested": "s3cr3t"}}),
        ] {
            match decode("db", &data) {
                Err(Error::Backend(m)) => assert!(!m.contains("s3cr3t"), "{m}"),
                other => panic!("{data}: {other:?}"),
            }
        }
    }

    #[test]
    fn listings_skip_folders_and_foreign_keys() {
        let keys = [
            json!("b"),
            json!("a.b"),
            json!("team/"),
            json!(".hidden"),
            json!("A"),
        ];
        assert_eq!(names(&keys).unwrap(), ["A", "a.b", "b"]);
        assert!(names(&[json!(1)]).is_err());
        for bad in ["", "a/b", "..", ".", "-x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name(&"a".repeat(128)).is_ok());
        assert!(check_name(&"a".repeat(129)).is_err());
    }
}
