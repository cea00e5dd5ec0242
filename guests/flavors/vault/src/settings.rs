//! This manager's configuration, read from the host's `config` import and
//! checked before any request is built (`flavor_kit::settings`), so
//! `secrets-manager register` can refuse a bad one in a call without
//! network.
//!
//! Guards against: a mount, path, namespace or Vault namespace that would
//! change the request path or header in ways the operator did not mean
//! (each is `/`-separated segments of `[A-Za-z0-9_.-]` starting with a
//! letter or digit, so no `..`, no query, no encoding tricks); an address
//! that is not a plain `http(s)://host[:port][/path]` URL; ambiguous
//! credentials (a token *and* an AppRole); and credentials leaking through
//! `Debug` (masked) or error messages (which name the key, never its value).

use flavor_kit::settings::{About, Field, base_url, optional, printable, required, segments};
use wasi_http_client::Url;

use crate::Error;

/// What `info()` reports.
pub const ABOUT: About = About {
    name: "vault",
    version: env!("CARGO_PKG_VERSION"),
    description: "HashiCorp Vault / OpenBao KV version 2: one Vault secret per secret, \
                  key-values plus zenml_schema_name as its data; token or AppRole.",
    config: &[
        Field::new("url", "Vault address, e.g. https://vault.example.com:8200").required(),
        Field::new("token", "a Vault token (or use role_id and secret_id)").secret(),
        Field::new("role_id", "AppRole role id").secret(),
        Field::new("secret_id", "AppRole secret id").secret(),
        Field::new(
            "approle_mount",
            "where the AppRole auth method is mounted (default approle)",
        ),
        Field::new(
            "mount",
            "the KV version 2 secrets engine's mount (default secret)",
        ),
        Field::new(
            "path",
            "path under the mount where secrets live (default flavorbox)",
        ),
        Field::new(
            "namespace",
            "sub-path under `path`, so managers share a mount apart from each other",
        ),
        Field::new(
            "vault_namespace",
            "Vault Enterprise / OpenBao namespace (X-Vault-Namespace header)",
        ),
    ],
    capabilities: &["http", "storage"],
};

/// How the flavor logs in.
pub enum Auth {
    /// A ready Vault token.
    Token(String),
    /// AppRole: `role_id` and `secret_id`, exchanged at
    /// `auth/<mount>/login` for a token.
    AppRole {
        mount: String,
        role_id: String,
        secret_id: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Token(***)"),
            Auth::AppRole { mount, .. } => write!(f, "AppRole {{ mount: {mount:?}, .. }}"),
        }
    }
}

/// The checked configuration of one `vault` secrets manager.
#[derive(Debug)]
pub struct Settings {
    /// The server's address, e.g. `https://vault.example.com:8200`.
    pub url: Url,
    pub auth: Auth,
    /// The KV version 2 mount, e.g. `secret`.
    pub mount: String,
    /// Where this manager's secrets live under the mount:
    /// `<path>[/<namespace>]`, without a trailing `/`.
    pub prefix: String,
    /// The `X-Vault-Namespace` header (Vault Enterprise, OpenBao).
    pub vault_namespace: Option<String>,
}

pub const DEFAULT_MOUNT: &str = "secret";
pub const DEFAULT_PATH: &str = "flavorbox";
pub const DEFAULT_APPROLE_MOUNT: &str = "approle";
/// Longest token sent as a header.
const MAX_TOKEN: usize = 4096;

impl Settings {
    pub fn load() -> Result<Settings, Error> {
        let url = base_url("url", &required("url")?)?;
        let auth = match (
            optional("token"),
            optional("role_id"),
            optional("secret_id"),
        ) {
            (Some(token), None, None) => {
                printable("token", &token, MAX_TOKEN)?;
                Auth::Token(token)
            }
            (None, Some(role_id), Some(secret_id)) => Auth::AppRole {
                mount: path("approle_mount", DEFAULT_APPROLE_MOUNT)?,
                role_id,
                secret_id,
            },
            (Some(_), _, _) => {
                return Err(Error::Invalid(
                    "config: give either `token` or `role_id` and `secret_id`, not both".into(),
                ));
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(Error::Invalid(
                    "config: AppRole needs both `role_id` and `secret_id`".into(),
                ));
            }
            (None, None, None) => {
                return Err(Error::Invalid(
                    "config: give `token`, or `role_id` and `secret_id` for AppRole".into(),
                ));
            }
        };
        let mount = path("mount", DEFAULT_MOUNT)?;
        let mut prefix = path("path", DEFAULT_PATH)?;
        if optional("namespace").is_some() {
            prefix.push('/');
            prefix.push_str(&path("namespace", "")?);
        }
        let vault_namespace = match optional("vault_namespace") {
            Some(_) => Some(path("vault_namespace", "")?),
            None => None,
        };
        Ok(Settings {
            url,
            auth,
            mount,
            prefix,
            vault_namespace,
        })
    }
}

/// Config `key` (or `default`) as `/`-separated segments, without leading
/// or trailing `/`.
fn path(key: &str, default: &str) -> Result<String, Error> {
    let value = optional(key).unwrap_or_else(|| default.to_string());
    segments(key, value.trim_matches('/'))
}
