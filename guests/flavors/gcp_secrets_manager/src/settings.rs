//! This manager's configuration, read from the host's `config` import and
//! checked before any request is built, so `secrets-manager register` can
//! refuse a bad one in a call without network: the project id, the
//! endpoint URL, the namespace, and the service-account key (its JSON, its
//! `token_uri`, and that its `private_key` is PKCS#8 PEM holding an RSA key).
//!
//! The general checks are `flavor_kit::settings`'.
//!
//! Guards against: a project id, namespace or endpoint that would change
//! the request path or host in ways the operator did not mean (each has a
//! strict grammar); ambiguous credentials (a key *and* a token); and
//! credentials leaking through `Debug` (masked) or error messages (which
//! name the key that is wrong, never its value).

use flavor_kit::names;
use flavor_kit::settings::{About, Field, invalid, no_query, optional, printable, required};
use serde_json::Value;
use wasi_http_client::Url;

use crate::{Error, auth};

/// What `info()` reports.
pub const ABOUT: About = About {
    name: "gcp_secrets_manager",
    version: env!("CARGO_PKG_VERSION"),
    description: "Google Cloud Secret Manager: one GCP secret per secret, key-values plus \
                  zenml_schema_name as the payload; service-account key or access token.",
    config: &[
        Field::new("project_id", "GCP project id (or number)").required(),
        Field::new(
            "credentials",
            "service-account key JSON, e.g. credentials=@key.json (or use access_token)",
        )
        .secret(),
        Field::new("access_token", "a ready OAuth access token").secret(),
        Field::new(
            "namespace",
            "name prefix, so managers share a project apart from each other",
        ),
        Field::new(
            "endpoint",
            "API URL (default https://secretmanager.googleapis.com)",
        ),
    ],
    capabilities: &["http", "storage"],
};

/// Google's OAuth token endpoint, for a key file that names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const DEFAULT_ENDPOINT: &str = "https://secretmanager.googleapis.com";
/// Longest namespace, so a secret id always fits GCP's 255 characters.
pub const MAX_NAMESPACE: usize = 64;
/// Longest access token sent as a header.
const MAX_ACCESS_TOKEN: usize = 8192;

/// A service-account key: the JSON file Google's console hands out.
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: Option<String>,
    /// PKCS#8 PEM, checked to decode; made into a signing key only when a
    /// token must be made.
    pub private_key: String,
    pub token_uri: Url,
}

/// How the flavor authenticates.
pub enum Credentials {
    /// A ready OAuth access token (e.g. `gcloud auth print-access-token`).
    AccessToken(String),
    ServiceAccount(ServiceAccount),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::AccessToken(_) => f.write_str("AccessToken(***)"),
            Credentials::ServiceAccount(sa) => f
                .debug_struct("ServiceAccount")
                .field("client_email", &sa.client_email)
                .field("token_uri", &sa.token_uri.origin())
                .finish_non_exhaustive(),
        }
    }
}

/// The checked configuration of one `gcp_secrets_manager` manager.
#[derive(Debug)]
pub struct Settings {
    pub project_id: String,
    pub credentials: Credentials,
    pub endpoint: Url,
    pub namespace: Option<String>,
}

impl Settings {
    pub fn load() -> Result<Settings, Error> {
        let project_id = required("project_id")?;
        if !is_project_id(&project_id) {
            return Err(invalid(
                "project_id",
                "is not a GCP project id (6-30 of a-z, 0-9 and -, starting with a letter) \
                 or project number",
            ));
        }
        let credentials = match (optional("credentials"), optional("access_token")) {
            (Some(json), None) => Credentials::ServiceAccount(service_account(&json)?),
            (None, Some(token)) => {
                printable("access_token", &token, MAX_ACCESS_TOKEN)?;
                Credentials::AccessToken(token)
            }
            (Some(_), Some(_)) => {
                return Err(Error::Invalid(
                    "config: give either `credentials` or `access_token`, not both".into(),
                ));
            }
            (None, None) => {
                return Err(Error::Invalid(
                    "config: give `credentials` (a service-account key, e.g. \
                     credentials=@key.json) or `access_token`"
                        .into(),
                ));
            }
        };
        let endpoint = optional("endpoint").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let endpoint = no_query("endpoint", url("endpoint", &endpoint)?)?;
        let namespace = match optional("namespace") {
            Some(ns) if names::is_valid(&ns) && ns.len() <= MAX_NAMESPACE => Some(ns),
            Some(_) => {
                return Err(invalid(
                    "namespace",
                    "must be 1-64 letters, digits, `_`, `.` and `-`, starting with a letter \
                     or digit",
                ));
            }
            None => None,
        };
        Ok(Settings {
            project_id,
            credentials,
            endpoint,
            namespace,
        })
    }
}

/// A project id (`my-project-123`, optionally `example.com:my-project`) or
/// a project number.
fn is_project_id(id: &str) -> bool {
    if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let (domain, id) = match id.rsplit_once(':') {
        Some((domain, id)) => (Some(domain), id),
        None => (None, id),
    };
    let domain_ok = domain.is_none_or(|d| {
        (1..=63).contains(&d.len())
            && d.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    });
    domain_ok
        && (6..=30).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The service-account key in `json`, checked.
fn service_account(json: &str) -> Result<ServiceAccount, Error> {
    let bad = |why: &str| invalid("credentials", why);
    let key: Value = serde_json::from_str(json).map_err(|_| {
        bad("is not JSON; pass the service-account key file, e.g. credentials=@key.json")
    })?;
    let field = |name: &str| key.get(name).and_then(Value::as_str);
    match field("type") {
        Some("service_account") => {}
        Some(_) => return Err(bad("is not a service-account key (its `type` is another)")),
        None => return Err(bad("is not a service-account key (no `type`)")),
    }
    let client_email = field("client_email")
        .filter(|e| e.contains('@') && e.len() <= 256 && e.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| bad("has no usable `client_email`"))?
        .to_string();
    let private_key = field("private_key")
        .ok_or_else(|| bad("has no `private_key`"))?
        .to_string();
    auth::check_private_key(&private_key)
        .map_err(|why| bad(&format!("has a `private_key` {why}")))?;
    let private_key_id = field("private_key_id")
        .filter(|id| {
            !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .map(str::to_string);
    let token_uri = url(
        "credentials",
        field("token_uri").unwrap_or(DEFAULT_TOKEN_URI),
    )?;
    Ok(ServiceAccount {
        client_email,
        private_key_id,
        private_key,
        token_uri,
    })
}

fn url(key: &str, text: &str) -> Result<Url, Error> {
    Url::parse(text).map_err(|why| invalid(key, &format!("has an unusable URL: {why}")))
}

#[cfg(test)]
mod tests {
    use super::is_project_id;

    #[test]
    fn project_ids() {
        for ok in [
            "my-project",
            "flavorbox-fake",
            "a12345",
            "123456789012",
            "example.com:my-proj",
        ] {
            assert!(is_project_id(ok), "{ok}");
        }
        for bad in [
            "",
            "short",
            "Upper-case",
            "ends-",
            "1starts",
            "a/b/c1234",
            "proj ect1",
            "../../x",
        ] {
            assert!(!is_project_id(bad), "{bad}");
        }
    }
}
