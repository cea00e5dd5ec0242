//! Secrets as the host sees them, and the rules every secret obeys.
//!
//! A secret crosses the sandbox boundary twice: the user's input goes to a
//! flavor, and a flavor's answer comes back. Both directions pass through
//! [`Secret::new`], so a name, key or size the contract (`wit/0.1/flavor.wit`)
//! forbids never reaches a flavor and never reaches the user. Messages name
//! keys but never values, and `Debug` prints keys only.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// Longest secret name or key, in characters.
pub const MAX_NAME_LEN: usize = 128;
/// Most value bytes one secret may hold (the smallest cloud limit).
pub const MAX_VALUES_BYTES: usize = 64 * 1024;
/// Most keys one secret may hold: with at most 128 bytes per key, a secret
/// is never more than 192 KiB of text.
pub const MAX_KEYS: usize = 1_024;

/// A validated secret: a name, its schema and at least one key-value pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    name: String,
    schema: String,
    values: BTreeMap<String, String>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("schema", &self.schema)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Secret {
    /// Checks `name`, every key, uniqueness of keys and the total size.
    pub fn new(
        name: impl Into<String>,
        schema: impl Into<String>,
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SecretError> {
        let name = name.into();
        check_name("secret name", &name)?;
        let schema = schema.into();
        check_name("schema name", &schema)?;
        let mut values = BTreeMap::new();
        let mut total = 0usize;
        for (key, value) in pairs {
            if values.len() == MAX_KEYS {
                return Err(SecretError(format!(
                    "secret `{name}` has more than {MAX_KEYS} keys"
                )));
            }
            check_key(&key)?;
            total = total.saturating_add(value.len());
            if values.insert(key.clone(), value).is_some() {
                return Err(SecretError(format!("key `{key}` is given more than once")));
            }
        }
        if values.is_empty() {
            return Err(SecretError(format!(
                "secret `{name}` has no key-value pairs; a secret holds at least one"
            )));
        }
        if total > MAX_VALUES_BYTES {
            return Err(SecretError(format!(
                "the values of secret `{name}` total {total} bytes, more than the \
                 {MAX_VALUES_BYTES}-byte limit"
            )));
        }
        Ok(Secret {
            name,
            schema,
            values,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The pairs in key order, as the WIT contract carries them.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Keys no secret may hold: ZenML keeps the schema name under
/// `zenml_schema_name` beside the values, so a value of that name would be
/// lost or taken for the schema.
pub const RESERVED_KEYS: &[&str] = &["zenml_schema_name"];

/// The rules for key-values a user gives, whatever the path (arguments, a
/// prompt, JSON, an import): valid, distinct, unreserved keys and non-empty
/// values. Messages name keys, never values.
pub fn check_input(pairs: &[(String, String)]) -> Result<(), SecretError> {
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in pairs {
        check_key(key)?;
        if RESERVED_KEYS.contains(&key.as_str()) {
            return Err(SecretError(format!(
                "key `{key}` is reserved (ZenML keeps the schema name under it)"
            )));
        }
        if !seen.insert(key.as_str()) {
            return Err(SecretError(format!("key `{key}` is given more than once")));
        }
        if value.is_empty() {
            return Err(SecretError(format!(
                "key `{key}` has an empty value; give a value or leave the key out"
            )));
        }
    }
    Ok(())
}

/// Why a secret, name or key breaks the rules. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError(pub String);

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SecretError> for Error {
    fn from(err: SecretError) -> Self {
        Error::invalid(err.0)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Shows an offending name or key safely: escaped and shortened.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// A name (of a secret, schema or secrets manager): 1-128 characters of
/// `[A-Za-z0-9_.-]` starting with a letter or digit.
pub fn check_name(what: &str, name: &str) -> Result<(), SecretError> {
    check_chars(what, name)?;
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(SecretError(format!(
            "{what} `{}` must start with a letter or digit",
            shown(name)
        )));
    }
    Ok(())
}

/// A key: 1-128 characters of `[A-Za-z0-9_.-]`.
pub fn check_key(key: &str) -> Result<(), SecretError> {
    check_chars("key", key)
}

fn check_chars(what: &str, s: &str) -> Result<(), SecretError> {
    if s.is_empty() {
        return Err(SecretError(format!("{what} is empty")));
    }
    if s.chars().count() > MAX_NAME_LEN {
        return Err(SecretError(format!(
            "{what} `{}` is longer than {MAX_NAME_LEN} characters",
            shown(s)
        )));
    }
    if let Some(bad) = s.chars().find(|&c| !is_name_char(c)) {
        return Err(SecretError(format!(
            "{what} `{}` contains {:?}; only letters, digits, `_`, `.` and `-` are allowed",
            shown(s),
            bad
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn accepts_a_well_formed_secret() {
        let s = Secret::new(
            "db_creds",
            "arbitrary",
            pairs(&[("user", "u"), ("password", "p")]),
        )
        .unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["password", "user"]);
    }

    #[test]
    fn rejects_bad_names() {
        for name in [
            "",
            "-lead",
            ".hidden",
            "has space",
            "slash/x",
            "nul\0",
            &"x".repeat(129),
        ] {
            assert!(
                Secret::new(name, "arbitrary", pairs(&[("k", "v")])).is_err(),
                "{name:?}"
            );
        }
        assert!(check_name("secret name", &"x".repeat(128)).is_ok());
    }

    #[test]
    fn rejects_bad_keys_duplicates_and_emptiness() {
        assert!(Secret::new("s", "arbitrary", pairs(&[("a b", "v")])).is_err());
        let dup = Secret::new("s", "arbitrary", pairs(&[("k", "1"), ("k", "2")])).unwrap_err();
        assert!(dup.0.contains("more than once"), "{dup}");
        assert!(
            Secret::new("s", "arbitrary", Vec::new())
                .unwrap_err()
                .0
                .contains("no key-value")
        );
    }

    #[test]
    fn enforces_the_64_kib_total() {
        let half = "x".repeat(MAX_VALUES_BYTES / 2);
        assert!(Secret::new("s", "arbitrary", pairs(&[("a", &half), ("b", &half)])).is_ok());
        let err = Secret::new(
            "s",
            "arbitrary",
            pairs(&[("a", &half), ("b", &half), ("c", "x")]),
        )
        .unwrap_err();
        assert!(err.0.contains("65537 bytes"), "{err}");
    }

    #[test]
    fn keys_per_secret_are_capped() {
        let keys = |n: usize| (0..n).map(|i| (format!("k{i}"), String::new()));
        assert!(Secret::new("s", "arbitrary", keys(MAX_KEYS)).is_ok());
        let err = Secret::new("s", "arbitrary", keys(MAX_KEYS + 1)).unwrap_err();
        assert!(err.0.contains("more than 1024 keys"), "{err}");
    }

    #[test]
    fn debug_and_errors_never_show_values() {
        let s = Secret::new("s", "arbitrary", pairs(&[("password", "hunter2")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        let big = "hunter2".repeat(20_000);
        let err = Secret::new("s", "arbitrary", pairs(&[("password", &big)])).unwrap_err();
        assert!(!err.0.contains("hunter2"));
    }
}
