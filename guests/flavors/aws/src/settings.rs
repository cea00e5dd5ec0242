//! This manager's configuration, read from the host's `config` import and
//! checked before any request is built.
//!
//! Guards against: a region or namespace that would change the endpoint host
//! or escape the name prefix (both are restricted to safe characters); an
//! endpoint that is not a plain `http(s)://host[:port][/path]` URL; and
//! credentials leaking through `Debug` (they live in `sigv4::Credentials`,
//! whose `Debug` masks them) or through error messages (which name the key
//! that is wrong, never its value).

use crate::flavorbox::secrets::config;
use crate::{Error, codec};
use wasi_http_client::Url;

/// The checked configuration of one `aws` secrets manager.
#[derive(Debug)]
pub struct Settings {
    pub region: String,
    pub credentials: sigv4::Credentials,
    pub endpoint: Url,
    /// Without the trailing `/`.
    pub namespace: Option<String>,
}

impl Settings {
    pub fn load() -> Result<Settings, Error> {
        let region = required("region")?;
        if region.len() > 32
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid("region", "is not an AWS region name"));
        }
        let credentials = sigv4::Credentials {
            access_key_id: required("aws_access_key_id")?,
            secret_access_key: required("aws_secret_access_key")?,
            session_token: optional("aws_session_token"),
        };
        let endpoint = match optional("endpoint") {
            Some(text) => {
                let url = Url::parse(&text)
                    .map_err(|why| invalid("endpoint", &format!("is unusable: {why}")))?;
                if !url.query.is_empty() {
                    return Err(invalid("endpoint", "must not have a query"));
                }
                url
            }
            None => Url::parse(&default_endpoint(&region)).expect("the default endpoint parses"),
        };
        let namespace = match optional("namespace") {
            Some(ns) => Some(check_namespace(&ns)?),
            None => None,
        };
        Ok(Settings {
            region,
            credentials,
            endpoint,
            namespace,
        })
    }
}

fn default_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://secretsmanager.{region}.{domain}")
}

/// A namespace is one or more `/`-separated segments, each a valid secret
/// name (`[A-Za-z0-9_.-]`, starting with a letter or digit).
fn check_namespace(namespace: &str) -> Result<String, Error> {
    let trimmed = namespace.trim_end_matches('/');
    let ok =
        !trimmed.is_empty() && trimmed.len() <= 256 && trimmed.split('/').all(codec::is_valid_name);
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(invalid(
            "namespace",
            "must be `/`-separated segments of letters, digits, `_`, `.` and `-`, \
             each starting with a letter or digit",
        ))
    }
}

fn optional(key: &str) -> Option<String> {
    config::get(key)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

fn required(key: &str) -> Result<String, Error> {
    optional(key).ok_or_else(|| Error::Invalid(format!("config `{key}` is required")))
}

fn invalid(key: &str, why: &str) -> Error {
    Error::Invalid(format!("config `{key}` {why}"))
}
