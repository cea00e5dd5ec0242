//! ZenML's layout of a secret's contents, which flavors keep so that ZenML
//! reads what flavorbox writes and the other way round: the key-values as
//! a JSON object of strings, with the schema name beside them under
//! `zenml_schema_name` (the *flat* layout), `arbitrary` when a secret names
//! none. Where the object is stored (a payload, a KV entry, a JSON string)
//! is the flavor's.
//!
//! Guards against: guessing at data flavorbox did not write (anything but
//! an object of strings is a `backend` error naming the secret and what is
//! wrong, never its content); a user key colliding with the schema's key
//! (refused as `invalid` when writing the flat layout); a secret value in a
//! message ([`values`] lists them for [`redact`](crate::errors::redact)).

use serde_json::{Map, Value};

use crate::{Error, Secret};

/// Where ZenML keeps the schema name.
pub const SCHEMA_KEY: &str = "zenml_schema_name";
/// The schema of a secret that names none.
pub const DEFAULT_SCHEMA: &str = "arbitrary";

/// A secret's key-values, as the contract carries them.
pub type Pairs = Vec<(String, String)>;

/// The secret `name` of `schema` holding `values` (for tests and
/// examples).
pub fn secret(name: &str, schema: &str, values: &[(&str, &str)]) -> Secret {
    Secret {
        name: name.to_string(),
        schema: schema.to_string(),
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The secret's values, to be masked in any message about it.
pub fn values(secret: &Secret) -> Vec<&str> {
    secret.values.iter().map(|(_, v)| v.as_str()).collect()
}

/// The secret's key-values as a JSON object of strings.
pub fn values_object(secret: &Secret) -> Map<String, Value> {
    secret
        .values
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// The flat layout of `secret`: its key-values and [`SCHEMA_KEY`] in one
/// object. A key named [`SCHEMA_KEY`] is `invalid`, naming `flavor` as the
/// one that stores the schema under it.
pub fn encode_flat(flavor: &str, secret: &Secret) -> Result<Map<String, Value>, Error> {
    if secret.values.iter().any(|(key, _)| key == SCHEMA_KEY) {
        return Err(Error::Invalid(format!(
            "key `{SCHEMA_KEY}` is reserved: the {flavor} flavor stores the schema under it"
        )));
    }
    let mut object = values_object(secret);
    object.insert(SCHEMA_KEY.to_string(), Value::String(secret.schema.clone()));
    Ok(object)
}

/// A secret as read back from a backend, for decoding it and for messages
/// about it.
pub struct Stored<'a> {
    /// The backend, as messages name it (`Vault`).
    pub backend: &'a str,
    /// The flavorbox name of the secret.
    pub name: &'a str,
}

impl Stored<'_> {
    /// The `backend` error for a stored secret that is not a flavorbox
    /// secret, saying `why` (which must not quote the content).
    pub fn corrupt(&self, why: &str) -> Error {
        Error::Backend(format!(
            "{} secret of `{}` is not a flavorbox secret: {why}",
            self.backend, self.name
        ))
    }

    /// The key-values of `object`, each value a string.
    pub fn pairs(&self, object: &Map<String, Value>) -> Result<Pairs, Error> {
        object
            .iter()
            .map(|(key, value)| match value {
                Value::String(value) => Ok((key.clone(), value.clone())),
                _ => Err(self.corrupt("a value is not a string")),
            })
            .collect()
    }

    /// The schema (if named) and the other key-values of a flat `object`,
    /// each value (the schema's too) a string.
    pub fn split_flat(
        &self,
        object: &Map<String, Value>,
    ) -> Result<(Option<String>, Pairs), Error> {
        let mut schema = None;
        let mut values = Vec::with_capacity(object.len());
        for (key, value) in self.pairs(object)? {
            if key == SCHEMA_KEY {
                schema = Some(value);
            } else {
                values.push((key, value));
            }
        }
        Ok((schema, values))
    }

    /// The secret in a flat `object`: at least one key-value, the schema
    /// [`DEFAULT_SCHEMA`] unless it names one.
    pub fn decode_flat(&self, object: &Map<String, Value>) -> Result<Secret, Error> {
        let (schema, values) = self.split_flat(object)?;
        if values.is_empty() {
            return Err(self.corrupt("it holds no key-values"));
        }
        Ok(Secret {
            name: self.name.to_string(),
            schema: schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_string()),
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STORED: Stored<'static> = Stored {
        backend: "Vault",
        name: "db",
    };

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn flat_encode_then_decode_round_trips() {
        let original = secret(
            "db",
            "basic_auth",
            &[("username", "u"), ("password", "p\"w\n")],
        );
        assert_eq!(values(&original), ["u", "p\"w\n"]);
        let flat = encode_flat("vault", &original).unwrap();
        assert_eq!(flat[SCHEMA_KEY], "basic_auth");
        assert_eq!(flat["password"], "p\"w\n");
        assert_eq!(flat.len(), 3);
        let back = STORED.decode_flat(&flat).unwrap();
        assert_eq!(
            (back.name.as_str(), back.schema.as_str()),
            ("db", "basic_auth")
        );
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
            encode_flat("vault", &secret("db", "basic_auth", &[("k", "v"), (SCHEMA_KEY, "x")])),
            Err(Error::Invalid(m))
                if m == "key `zenml_schema_name` is reserved: \
                         the vault flavor stores the schema under it"
        ));
        assert_eq!(
            values_object(&secret("db", "basic_auth", &[(SCHEMA_KEY, "x")]))[SCHEMA_KEY],
            "x"
        );
    }

    #[test]
    fn zenml_secrets_without_a_schema_are_arbitrary() {
        let flat = STORED.decode_flat(&object(json!({"token": "t"}))).unwrap();
        assert_eq!(flat.schema, "arbitrary");
        assert_eq!(flat.values, [("token".to_string(), "t".to_string())]);
        let (schema, values) = STORED
            .split_flat(&object(json!({SCHEMA_KEY: "x"})))
            .unwrap();
        assert_eq!((schema.as_deref(), values.len()), (Some("x"), 0));
    }

    #[test]
    fn foreign_data_is_refused_without_echoing_it() {
        for data in [
            json!({"k": 1}),
            json!({SCHEMA_KEY: "s3cr3t"}),
            json!({"k": {"nested": "s3cr3t"}}),
            json!({"k": "s3cr3t", SCHEMA_KEY: 7}),
            json!({}),
        ] {
            match STORED.decode_flat(&object(data.clone())) {
                Err(Error::Backend(m)) => {
                    assert!(
                        m.starts_with("Vault secret of `db` is not a flavorbox secret: "),
                        "{m}"
                    );
                    assert!(!m.contains("s3cr3t"), "{m}");
                }
                other => panic!("{data}: {other:?}"),
            }
        }
        assert!(STORED.pairs(&object(json!({"k": null}))).is_err());
    }
}
