//! Reading this manager's configuration from the host's `config` import and
//! checking it before any request is built, so `secrets-manager register`
//! can refuse a bad one in a call without network; and describing the
//! flavor and its config keys in `info()` ([`About`]).
//!
//! Guards against: a blank value counted as given (values are trimmed, and
//! an empty one is absent); a configured value in a message (any may be a
//! credential: messages name the key and what is wrong, never the value);
//! a value that changes a request's path, query or headers in ways the
//! operator did not mean ([`segments`] allows `/`-separated flavorbox names
//! only, [`printable`] visible ASCII only, [`base_url`] a plain
//! `http(s)://host[:port][/path]` without a query).

use wasi_http_client::Url;

use crate::{ConfigField, Error, FlavorInfo, config, names};

/// Config `key`, trimmed; `None` when absent or blank.
pub fn optional(key: &str) -> Option<String> {
    config::get(key)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// Config `key`, trimmed; `invalid` when absent or blank.
pub fn required(key: &str) -> Result<String, Error> {
    optional(key).ok_or_else(|| Error::Invalid(format!("config `{key}` is required")))
}

/// The `invalid` error for config `key`: `config `<key>` <why>`.
pub fn invalid(key: &str, why: &str) -> Error {
    Error::Invalid(format!("config `{key}` {why}"))
}

/// `text`, the value of config `key`, as the base URL of an API: a plain
/// `http(s)` URL without a query.
pub fn base_url(key: &str, text: &str) -> Result<Url, Error> {
    let url = Url::parse(text).map_err(|why| invalid(key, &format!("is unusable: {why}")))?;
    no_query(key, url)
}

/// `url`, the value of config `key`, unless it has a query (a base URL's
/// query would end up in the middle of every request's).
pub fn no_query(key: &str, url: Url) -> Result<Url, Error> {
    if url.query.is_empty() {
        Ok(url)
    } else {
        Err(invalid(key, "must not have a query"))
    }
}

/// `path`, the value of config `key` with the caller's choice of outer
/// `/` removed, if it is `/`-separated segments that are each a flavorbox
/// name (so no empty segment, `.`, `..`, query or encoding), at most 256
/// bytes in all.
pub fn segments(key: &str, path: &str) -> Result<String, Error> {
    if !path.is_empty() && path.len() <= 256 && path.split('/').all(names::is_valid) {
        Ok(path.to_string())
    } else {
        Err(invalid(
            key,
            "must be `/`-separated segments of letters, digits, `_`, `.` and `-`, \
             each starting with a letter or digit",
        ))
    }
}

/// `invalid` unless `value`, the value of config `key` (a token sent as a
/// header), is visible ASCII of at most `max_len` bytes.
pub fn printable(key: &str, value: &str, max_len: usize) -> Result<(), Error> {
    if value.len() <= max_len && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(invalid(key, "must be printable ASCII without spaces"))
    }
}

/// A config key a flavor takes, as its `info()` describes it: optional
/// and not a credential unless made [`required`](Field::required) or
/// [`secret`](Field::secret).
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    pub secret: bool,
}

impl Field {
    /// An optional key that is not a credential.
    pub const fn new(name: &'static str, description: &'static str) -> Field {
        Field {
            name,
            description,
            required: false,
            secret: false,
        }
    }

    /// This key, which the manager cannot do without.
    pub const fn required(self) -> Field {
        Field {
            required: true,
            ..self
        }
    }

    /// This key, a credential: the host never prints its value.
    pub const fn secret(self) -> Field {
        Field {
            secret: true,
            ..self
        }
    }
}

/// What a flavor's `info()` reports, as a constant.
#[derive(Debug, Clone, Copy)]
pub struct About {
    /// The flavor's name, its crate's name.
    pub name: &'static str,
    /// Usually `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    pub description: &'static str,
    pub config: &'static [Field],
    /// Capabilities the flavor needs: `http`, `storage`.
    pub capabilities: &'static [&'static str],
}

impl About {
    /// The `info()` answer.
    pub fn info(&self) -> FlavorInfo {
        FlavorInfo {
            name: self.name.to_string(),
            version: self.version.to_string(),
            description: self.description.to_string(),
            config: self
                .config
                .iter()
                .map(|field| ConfigField {
                    name: field.name.to_string(),
                    description: field.description.to_string(),
                    required: field.required,
                    secret: field.secret,
                })
                .collect(),
            capabilities: self.capabilities.iter().map(|c| c.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(error: Error) -> String {
        match error {
            Error::Invalid(m) => m,
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn base_urls_are_plain_and_their_errors_do_not_echo_them() {
        let url = base_url("url", "https://Vault.example:8200/base").unwrap();
        assert_eq!(url.origin(), "https://vault.example:8200");
        assert_eq!(url.path, "/base");
        let unusable = message(base_url("endpoint", "ftp://s3cr3t@host").unwrap_err());
        assert!(
            unusable.starts_with("config `endpoint` is unusable: ") && !unusable.contains("s3cr3t"),
            "{unusable}"
        );
        assert_eq!(
            message(base_url("url", "http://host/?token=s3cr3t").unwrap_err()),
            "config `url` must not have a query"
        );
    }

    #[test]
    fn segments_are_flavorbox_names() {
        assert_eq!(segments("mount", "kv").unwrap(), "kv");
        assert_eq!(segments("path", "team/a.b/c-1").unwrap(), "team/a.b/c-1");
        let long = vec!["a"; 129].join("/");
        for bad in [
            "", "/a", "a//b", "a/../b", "a/.", "a?b", "a%2F", "a b", &long,
        ] {
            assert_eq!(
                message(segments("path", bad).unwrap_err()),
                "config `path` must be `/`-separated segments of letters, digits, `_`, `.` \
                 and `-`, each starting with a letter or digit",
                "{bad}"
            );
        }
    }

    #[test]
    fn printable_values_are_visible_ascii_within_bounds() {
        assert!(printable("token", "hvs.ABC-def_123", 4096).is_ok());
        assert!(printable("token", &"t".repeat(8), 8).is_ok());
        for bad in ["a b", "a\nb", "tök", &"t".repeat(9)] {
            assert_eq!(
                message(printable("token", bad, 8).unwrap_err()),
                "config `token` must be printable ASCII without spaces",
                "{bad}"
            );
        }
    }

    #[test]
    fn about_describes_the_flavor_and_its_keys() {
        const ABOUT: About = About {
            name: "example",
            version: "1.2.3",
            description: "An example.",
            config: &[
                Field::new("url", "where").required(),
                Field::new("token", "a token").secret(),
                Field::new("key", "a key").required().secret(),
                Field::new("path", "a path"),
            ],
            capabilities: &["http", "storage"],
        };
        let info = ABOUT.info();
        assert_eq!(
            (
                info.name.as_str(),
                info.version.as_str(),
                info.description.as_str()
            ),
            ("example", "1.2.3", "An example.")
        );
        assert_eq!(info.capabilities, ["http", "storage"]);
        let keys: Vec<(&str, &str, bool, bool)> = info
            .config
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.description.as_str(),
                    f.required,
                    f.secret,
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("url", "where", true, false),
                ("token", "a token", false, true),
                ("key", "a key", true, true),
                ("path", "a path", false, false),
            ]
        );
    }
}
