//! Secret schemas (ZenML's secret `TYPE`): which keys a secret must, may and
//! may not hold.
//!
//! The host validates every secret against its schema before a flavor sees
//! it, so a flavor never stores an `aws` secret without an access key. User
//! schemas come from JSON files and are checked as strictly as secrets: a
//! schema that could never be satisfied, or that shadows a built-in, is
//! refused.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::{Secret, check_key, check_name};

/// A named template for a secret's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Keys every secret of this schema holds.
    #[serde(default)]
    pub required: Vec<String>,
    /// Keys a secret of this schema may hold.
    #[serde(default)]
    pub optional: Vec<String>,
    /// Whether keys beyond `required` and `optional` are allowed.
    #[serde(default)]
    pub allow_other_keys: bool,
    /// True for the schemas flavorbox ships.
    #[serde(skip)]
    pub builtin: bool,
}

fn builtin(
    name: &str,
    description: &str,
    required: &[&str],
    optional: &[&str],
    allow_other_keys: bool,
) -> Schema {
    let owned = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect();
    Schema {
        name: name.to_string(),
        description: description.to_string(),
        required: owned(required),
        optional: owned(optional),
        allow_other_keys,
        builtin: true,
    }
}

/// The schemas every home has; the README lists them.
pub fn builtins() -> Vec<Schema> {
    vec![
        builtin("arbitrary", "Any keys, at least one.", &[], &[], true),
        builtin(
            "aws",
            "AWS credentials.",
            &["aws_access_key_id", "aws_secret_access_key"],
            &["aws_session_token"],
            false,
        ),
        builtin(
            "gcp",
            "A GCP service-account key (JSON) under `token`.",
            &["token"],
            &[],
            false,
        ),
        builtin(
            "azure",
            "Azure credentials (Key Vault forbids underscores in keys).",
            &[],
            &[
                "accountname",
                "accountkey",
                "sastoken",
                "connectionstring",
                "clientid",
                "clientsecret",
                "tenantid",
            ],
            false,
        ),
        builtin(
            "mysql",
            "MySQL credentials and TLS material.",
            &[],
            &[
                "user",
                "password",
                "ssl_ca",
                "ssl_cert",
                "ssl_key",
                "ssl_verify_server_cert",
            ],
            false,
        ),
        builtin(
            "basic_auth",
            "A username and a password.",
            &["username", "password"],
            &[],
            false,
        ),
    ]
}

pub fn find_builtin(name: &str) -> Option<Schema> {
    builtins().into_iter().find(|s| s.name == name)
}

impl Schema {
    /// Parses and checks a user schema from its JSON text.
    pub fn from_json(text: &str) -> Result<Schema> {
        let schema: Schema = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("schema file is not a valid schema: {e}")))?;
        schema.check()?;
        Ok(schema)
    }

    /// Checks that the schema is well-formed and does not shadow a built-in.
    pub fn check(&self) -> Result<()> {
        check_name("schema name", &self.name)?;
        if find_builtin(&self.name).is_some() {
            return Err(Error::invalid(format!(
                "schema `{}` is built in and cannot be redefined",
                self.name
            )));
        }
        let mut seen = BTreeSet::new();
        for key in self.required.iter().chain(&self.optional) {
            check_key(key)?;
            if crate::secret::RESERVED_KEYS.contains(&key.as_str()) {
                return Err(Error::invalid(format!(
                    "schema `{}` lists key `{key}`, which is reserved",
                    self.name
                )));
            }
            if !seen.insert(key) {
                return Err(Error::invalid(format!(
                    "schema `{}` lists key `{key}` more than once",
                    self.name
                )));
            }
        }
        if seen.is_empty() && !self.allow_other_keys {
            return Err(Error::invalid(format!(
                "schema `{}` allows no key at all; list keys or set allow_other_keys",
                self.name
            )));
        }
        Ok(())
    }

    /// Checks `secret`'s keys against this schema.
    pub fn validate(&self, secret: &Secret) -> Result<()> {
        for key in &self.required {
            if !secret.values().contains_key(key) {
                return Err(Error::invalid(format!(
                    "schema `{}` requires key `{key}`",
                    self.name
                )));
            }
        }
        if !self.allow_other_keys {
            for key in secret.keys() {
                if !self.required.iter().chain(&self.optional).any(|k| k == key) {
                    return Err(Error::invalid(format!(
                        "schema `{}` does not allow key `{key}` (allowed: {})",
                        self.name,
                        self.required
                            .iter()
                            .chain(&self.optional)
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// All keys the schema names, required first.
    pub fn known_keys(&self) -> impl Iterator<Item = (&str, bool)> {
        self.required
            .iter()
            .map(|k| (k.as_str(), true))
            .chain(self.optional.iter().map(|k| (k.as_str(), false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(schema: &str, keys: &[&str]) -> Secret {
        Secret::new(
            "s",
            schema,
            keys.iter().map(|k| (k.to_string(), "v".to_string())),
        )
        .unwrap()
    }

    #[test]
    fn aws_needs_both_keys_and_nothing_else() {
        let aws = find_builtin("aws").unwrap();
        assert!(
            aws.validate(&secret(
                "aws",
                &["aws_access_key_id", "aws_secret_access_key"]
            ))
            .is_ok()
        );
        let missing = aws
            .validate(&secret("aws", &["aws_access_key_id"]))
            .unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("requires key `aws_secret_access_key`")
        );
        let extra = aws
            .validate(&secret(
                "aws",
                &["aws_access_key_id", "aws_secret_access_key", "x"],
            ))
            .unwrap_err();
        assert!(extra.to_string().contains("does not allow key `x`"));
    }

    #[test]
    fn arbitrary_and_optional_only_schemas() {
        assert!(
            find_builtin("arbitrary")
                .unwrap()
                .validate(&secret("arbitrary", &["anything"]))
                .is_ok()
        );
        let mysql = find_builtin("mysql").unwrap();
        assert!(mysql.validate(&secret("mysql", &["password"])).is_ok());
        assert!(mysql.validate(&secret("mysql", &["nope"])).is_err());
    }

    #[test]
    fn user_schemas_are_checked() {
        let ok =
            Schema::from_json(r#"{"name":"api","required":["token"],"optional":["url"]}"#).unwrap();
        assert!(!ok.allow_other_keys);
        for bad in [
            r#"{"name":"aws","required":["x"]}"#,
            r#"{"name":"api","required":["a","a"]}"#,
            r#"{"name":"api"}"#,
            r#"{"name":"bad name","required":["a"]}"#,
            r#"{"name":"api","required":["a"],"typo":true}"#,
            r#"{"name":"api","optional":["zenml_schema_name"]}"#,
            "not json",
        ] {
            assert!(Schema::from_json(bad).is_err(), "{bad}");
        }
    }
}
