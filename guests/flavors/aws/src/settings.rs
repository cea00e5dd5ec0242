//! This manager's configuration, read from the host's `config` import and
//! checked before any request is built (`flavor_kit::settings`).
//!
//! Guards against: a recovery window AWS would refuse (checked to be AWS's
//! 7-30 days before any request); a region or namespace that would change
//! the endpoint host or escape the name prefix (both are restricted to safe
//! characters); an endpoint that is not a plain `http(s)://host[:port][/path]` URL; and
//! credentials leaking through `Debug` (they live in `sigv4::Credentials`,
//! whose `Debug` masks them) or through error messages (which name the key
//! that is wrong, never its value).

use flavor_kit::settings::{About, Field, base_url, invalid, optional, required, segments};
use wasi_http_client::Url;

use crate::Error;

/// What `info()` reports.
pub const ABOUT: About = About {
    name: "aws",
    version: env!("CARGO_PKG_VERSION"),
    description: "AWS Secrets Manager: one AWS secret per secret, key-values as a \
                  JSON SecretString, the schema in a tag; SigV4-signed over wasi:http.",
    config: &[
        Field::new("region", "AWS region, e.g. eu-west-1").required(),
        Field::new("aws_access_key_id", "AWS access key id")
            .required()
            .secret(),
        Field::new("aws_secret_access_key", "AWS secret access key")
            .required()
            .secret(),
        Field::new(
            "aws_session_token",
            "session token of temporary credentials",
        )
        .secret(),
        Field::new(
            "endpoint",
            "endpoint URL (default https://secretsmanager.<region>.amazonaws.com)",
        ),
        Field::new(
            "namespace",
            "name prefix: secrets live as <namespace>/<name>, isolated from others",
        ),
        Field::new(
            "recovery_window_days",
            "days a deleted secret can be restored before AWS removes it, 7-30 (default 30)",
        ),
    ],
    capabilities: &["http"],
};

/// The checked configuration of one `aws` secrets manager.
#[derive(Debug)]
pub struct Settings {
    pub region: String,
    pub credentials: sigv4::Credentials,
    pub endpoint: Url,
    /// `/`-separated flavorbox names, without the trailing `/`.
    pub namespace: Option<String>,
    /// `RecoveryWindowInDays` of a soft delete.
    pub recovery_window_days: u64,
}

/// AWS's own bounds and default of a recovery window, in days.
pub const RECOVERY_WINDOW_DAYS: std::ops::RangeInclusive<u64> = 7..=30;
pub const DEFAULT_RECOVERY_WINDOW_DAYS: u64 = 30;

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
            Some(text) => base_url("endpoint", &text)?,
            None => Url::parse(&default_endpoint(&region)).expect("the default endpoint parses"),
        };
        let namespace = match optional("namespace") {
            Some(ns) => Some(segments("namespace", ns.trim_end_matches('/'))?),
            None => None,
        };
        let recovery_window_days = match optional("recovery_window_days") {
            Some(days) => days
                .parse()
                .ok()
                .filter(|d| RECOVERY_WINDOW_DAYS.contains(d))
                .ok_or_else(|| {
                    invalid(
                        "recovery_window_days",
                        "must be a whole number of days from 7 to 30",
                    )
                })?,
            None => DEFAULT_RECOVERY_WINDOW_DAYS,
        };
        Ok(Settings {
            region,
            credentials,
            endpoint,
            namespace,
            recovery_window_days,
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
