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
//! name, `flavor_kit::names`: no `/`, no `..`); a listed sub-folder
//! (`other/`) or foreign key read as one of ours; guessing at data we did
//! not write and a user key colliding with the schema's key (both
//! `flavor_kit::zenml`).

use flavor_kit::names;
use flavor_kit::zenml::{self, Stored};
use serde_json::Value;

use crate::errors::BACKEND;
use crate::{Error, Secret};

/// The KV data of `secret`.
pub fn encode(secret: &Secret) -> Result<Value, Error> {
    Ok(Value::Object(zenml::encode_flat("vault", secret)?))
}

/// The secret `name` from the KV data in a read reply (`data.data`).
pub fn decode(name: &str, data: &Value) -> Result<Secret, Error> {
    let stored = Stored {
        backend: BACKEND,
        name,
    };
    let object = data
        .as_object()
        .ok_or_else(|| stored.corrupt("its data is not a JSON object"))?;
    stored.decode_flat(object)
}

/// The flavorbox names among the keys of a metadata LIST reply: entries
/// ending in `/` are folders (other namespaces, other tools) and skipped,
/// as is anything that is not a flavorbox name.
pub fn names(keys: &[Value]) -> Result<Vec<String>, Error> {
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key
            .as_str()
            .ok_or_else(|| Error::Backend("a listed Vault key is not a string".into()))?;
        if names::is_valid(key) {
            found.push(key.to_string());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_is_the_flat_zenml_layout() {
        let secret = Secret {
            name: "db".into(),
            schema: "basic_auth".into(),
            values: vec![("password".into(), "p\"w\n".into())],
        };
        let data = encode(&secret).unwrap();
        assert_eq!(
            data,
            json!({"password": "p\"w\n", "zenml_schema_name": "basic_auth"})
        );
        let back = decode("db", &data).unwrap();
        assert_eq!(back.schema, secret.schema);
        assert_eq!(back.values, secret.values);
        assert!(matches!(
            encode(&Secret {
                values: vec![(zenml::SCHEMA_KEY.into(), "x".into())],
                ..secret
            }),
            Err(Error::Invalid(m)) if m.contains("the vault flavor stores the schema")
        ));
    }

    #[test]
    fn data_that_is_not_an_object_is_refused_without_echoing_it() {
        for data in [json!("s3cr3t"), json!(["s3cr3t"]), json!({"k": 1})] {
            match decode("db", &data) {
                Err(Error::Backend(m)) => {
                    assert!(m.starts_with("Vault secret of `db`"), "{m}");
                    assert!(!m.contains("s3cr3t"), "{m}");
                }
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
            json!("b"),
        ];
        assert_eq!(names(&keys).unwrap(), ["A", "a.b", "b"]);
        assert!(names(&[json!(1)]).is_err());
    }
}
