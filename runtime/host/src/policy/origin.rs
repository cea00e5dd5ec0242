//! HTTP grants: an origin is a scheme (`http` or `https`), a host and a
//! port, nothing else, so a grant can be compared exactly against every
//! request; a path, user or query in a grant is refused rather than ignored.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `scheme://host:port`, normalised (lower-case host, explicit port).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

impl Origin {
    /// The origin of a request URI; `None` if it has no host or an
    /// unsupported scheme.
    pub fn of_uri(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host()?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        // Normalise IP literals the same way grants are normalised.
        let host = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => host.to_ascii_lowercase(),
        };
        Some(Origin {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(default_port),
        })
    }

    /// The host as an IP address, when the origin names one literally.
    pub fn ip_literal(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }

    /// Parses an operator's grant such as `https://secretsmanager.us-east-1.amazonaws.com`
    /// or `http://127.0.0.1:4566`.
    pub fn parse(text: &str) -> Result<Origin> {
        let bad = |why: &str| Error::invalid(format!("--allow-host `{text}`: {why}"));
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let scheme = url.scheme().to_string();
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("an origin has no user or password"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("an origin is scheme://host[:port], without a path"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("the host is missing")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("the port is missing"))?;
        Ok(Origin { scheme, host, port })
    }
}

/// Checks and normalises a list of granted origins.
pub fn check_origins(origins: &[String]) -> Result<Vec<Origin>> {
    origins.iter().map(|o| Origin::parse(o)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        let o = Origin::parse("https://SecretsManager.us-east-1.amazonaws.com").unwrap();
        assert_eq!(
            o.to_string(),
            "https://secretsmanager.us-east-1.amazonaws.com:443"
        );
        assert_eq!(Origin::parse("http://127.0.0.1:4566/").unwrap().port, 4566);
        assert_eq!(
            Origin::parse("http://[::1]:80").unwrap().to_string(),
            "http://[::1]:80"
        );
    }

    #[test]
    fn request_uris_map_to_the_same_origins_as_grants() {
        let uri: http::Uri = "https://SecretsManager.us-east-1.amazonaws.com/x?y"
            .parse()
            .unwrap();
        assert_eq!(
            Origin::of_uri(&uri),
            Some(Origin::parse("https://secretsmanager.us-east-1.amazonaws.com").unwrap())
        );
        let uri: http::Uri = "http://[::1]:8080/".parse().unwrap();
        assert_eq!(
            Origin::of_uri(&uri),
            Some(Origin::parse("http://[::1]:8080").unwrap())
        );
        let uri: http::Uri = "ftp://example.com/".parse().unwrap();
        assert_eq!(Origin::of_uri(&uri), None);
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for bad in [
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/path",
            "https://example.com?q",
            "example.com",
            "",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }
}
