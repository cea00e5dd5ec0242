//! How the `local` flavor's storage entries are encoded, and how the 0.1
//! flavor's entries still read.
//!
//! Records and values are postcard (serde's compact binary format: varint
//! lengths, strings as raw UTF-8, no field names, no escaping), behind a
//! two-byte header: a NUL byte, which no YAML document contains (so an entry
//! the 0.1 flavor wrote is told apart without guessing), and the format
//! number, so a later layout can read this one. Postcard rather than YAML or
//! JSON because `get-secret` decodes two entries per call and nothing else: a
//! value is copied out once, not unescaped or base64-decoded, and the crate
//! adds little code to the component. ZenML's YAML stays what `export` and
//! `import` speak (the host's concern), and what the 0.1 flavor stored: a
//! YAML mapping of each key to its base64 value plus the schema under
//! `zenml_schema_name`, read here as version 1 of the secret.
//!
//! Guards against: a corrupt or foreign entry decoded into a plausible secret
//! (every decode checks its header, the whole input is consumed, a record's
//! invariants are checked, and failures are `backend` errors naming the
//! secret, never the value); a secret value reaching an error or a `Debug`
//! output (`Values` prints only its keys).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_norway::{Mapping, Value};

use crate::versions::{Error, Record};

/// The first byte of every entry this layout writes: never in YAML.
const MARK: u8 = 0;
/// The layout's format number, the second byte.
const FORMAT: u8 = 1;
/// The key ZenML's local secrets manager keeps the schema name under; the
/// 0.1 flavor's entries have it, so it is no secret key.
pub const ZENML_SCHEMA_NAME: &str = "zenml_schema_name";

/// One version's key-value pairs. `Debug` shows the keys only.
#[derive(Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Values(pub Vec<(String, String)>);

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(key, _)| format!("{key}=***")))
            .finish()
    }
}

/// What a secret's record entry held.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    Record(Record),
    /// Written by the 0.1 flavor: the schema and values of version 1.
    Legacy {
        schema: String,
        values: Values,
    },
}

fn corrupt(name: &str, why: &str) -> Error {
    Error::Backend(format!("stored secret `{name}` is corrupt: {why}"))
}

fn encode<T: serde::Serialize>(what: &T) -> Result<Vec<u8>, Error> {
    postcard::to_extend(what, vec![MARK, FORMAT])
        .map_err(|e| Error::Backend(format!("cannot encode a storage entry: {e}")))
}

fn decode<'a, T: serde::Deserialize<'a>>(name: &str, bytes: &'a [u8]) -> Result<T, Error> {
    match bytes {
        [MARK, FORMAT, body @ ..] => match postcard::take_from_bytes(body) {
            Ok((value, [])) => Ok(value),
            Ok(_) => Err(corrupt(name, "bytes follow the entry")),
            Err(_) => Err(corrupt(name, "an entry does not decode")),
        },
        [MARK, format, ..] => Err(corrupt(
            name,
            &format!("format {format} is not one this flavor reads"),
        )),
        _ => Err(corrupt(name, "an entry has no header")),
    }
}

pub fn encode_record(record: &Record) -> Result<Vec<u8>, Error> {
    encode(record)
}

pub fn encode_values(values: &Values) -> Result<Vec<u8>, Error> {
    encode(values)
}

/// Decodes the record entry of secret `name`; `deleted` says which key it
/// was read from.
pub fn decode_record(name: &str, bytes: &[u8], deleted: bool) -> Result<Stored, Error> {
    if bytes.first() != Some(&MARK) {
        if deleted {
            return Err(corrupt(name, "a deleted secret's entry is not a record"));
        }
        let (schema, values) = decode_legacy(name, bytes)?;
        return Ok(Stored::Legacy { schema, values });
    }
    let mut record: Record = decode(name, bytes)?;
    record.check().map_err(|why| corrupt(name, &why))?;
    record.deleted = deleted;
    Ok(Stored::Record(record))
}

pub fn decode_values(name: &str, bytes: &[u8]) -> Result<Values, Error> {
    decode(name, bytes)
}

/// Reads an entry of the 0.1 flavor: a YAML mapping of every key to its
/// base64-encoded value, and the schema under `zenml_schema_name`.
fn decode_legacy(name: &str, bytes: &[u8]) -> Result<(String, Values), Error> {
    let mapping: Mapping =
        serde_norway::from_slice(bytes).map_err(|_| corrupt(name, "not a YAML mapping"))?;
    let mut schema = None;
    let mut values = Vec::with_capacity(mapping.len());
    for (key, value) in mapping {
        let (Value::String(key), Value::String(value)) = (key, value) else {
            return Err(corrupt(name, "a key or value is not a string"));
        };
        if key == ZENML_SCHEMA_NAME {
            schema = Some(value);
            continue;
        }
        let decoded = BASE64
            .decode(value.as_bytes())
            .map_err(|_| corrupt(name, "a value is not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| corrupt(name, "a value is not UTF-8"))?;
        values.push((key, decoded));
    }
    let schema = schema.ok_or_else(|| corrupt(name, "the schema name is missing"))?;
    Ok((schema, Values(values)))
}

/// Writes an entry as the 0.1 flavor did (its tests' fixtures: what a home
/// written by the current release holds).
#[cfg(test)]
pub fn encode_legacy(schema: &str, values: &[(&str, &str)]) -> Vec<u8> {
    let mut mapping = Mapping::new();
    for (key, value) in values {
        mapping.insert(Value::from(*key), Value::from(BASE64.encode(value)));
    }
    mapping.insert(Value::from(ZENML_SCHEMA_NAME), Value::from(schema));
    serde_norway::to_string(&mapping).unwrap().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::Record;

    fn values() -> Values {
        Values(vec![
            ("user".into(), "admin".into()),
            ("password".into(), "hunter2: \"quoted\"\n".into()),
        ])
    }

    #[test]
    fn record_and_values_round_trip() {
        let mut record = Record::new("mysql", vec![("team".into(), "ml".into())], 5);
        record.add_version("db", "mysql", None, 9, 10).unwrap();
        let bytes = encode_record(&record).unwrap();
        assert_eq!(&bytes[..2], &[MARK, FORMAT]);
        assert_eq!(
            decode_record("db", &bytes, false).unwrap(),
            Stored::Record(record.clone())
        );
        let Stored::Record(deleted) = decode_record("db", &bytes, true).unwrap() else {
            panic!("a record decodes as a record");
        };
        assert!(deleted.deleted);

        let bytes = encode_values(&values()).unwrap();
        assert_eq!(decode_values("db", &bytes).unwrap(), values());
    }

    #[test]
    fn an_entry_of_the_0_1_flavor_reads_as_legacy() {
        let bytes = encode_legacy("aws", &[("key", "v4lue"), ("other", "ünïcode")]);
        assert_eq!(
            decode_record("old", &bytes, false).unwrap(),
            Stored::Legacy {
                schema: "aws".into(),
                values: Values(vec![
                    ("key".into(), "v4lue".into()),
                    ("other".into(), "ünïcode".into())
                ]),
            }
        );
        // Under the deleted prefix only this layout ever wrote.
        assert!(matches!(
            decode_record("old", &bytes, true),
            Err(Error::Backend(_))
        ));
    }

    #[test]
    fn corrupt_entries_are_backend_errors_without_values() {
        let good = encode_values(&values()).unwrap();
        let mut trailing = good.clone();
        trailing.push(7);
        let mut future = good.clone();
        future[1] = 9;
        let cut = &good[..good.len() - 3];
        for bytes in [&trailing[..], &future[..], cut, &[MARK][..], b"- a list"] {
            let err = decode_values("db", bytes).unwrap_err();
            let Error::Backend(detail) = err else {
                panic!("{err:?} is no backend error");
            };
            assert!(detail.contains("`db` is corrupt"), "{detail}");
            assert!(!detail.contains("hunter2"), "{detail}");
        }
        // A record breaking its invariants: no versions at all.
        let mut empty = Record::legacy("s");
        empty.kept.clear();
        let bytes = encode_record(&empty).unwrap();
        assert!(matches!(
            decode_record("db", &bytes, false),
            Err(Error::Backend(d)) if d.contains("no version")
        ));
        for yaml in [&b"[1, 2]"[..], b"key: not base64!", b"key: aGk="] {
            assert!(matches!(
                decode_record("db", yaml, false),
                Err(Error::Backend(_))
            ));
        }
    }

    #[test]
    fn values_debug_hides_the_values() {
        let shown = format!("{:?}", values());
        assert_eq!(shown, r#"["user=***", "password=***"]"#);
    }
}
