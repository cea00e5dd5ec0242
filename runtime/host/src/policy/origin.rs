//! HTTP grants: an origin is a scheme (`http` or `https`), a host and a
//! port, nothing else, so a grant can be compared exactly against every
//! request; a path, user or query in a grant is refused rather than ignored.
//!
//! Guards against a grant that is accepted but means something else than
//! the operator typed: the one wildcard form is a leading `*.` label
//! (`https://*.example.com`), which matches the domain's subdomains at any
//! depth with the same scheme and port, never the domain itself, never an
//! IP address; every other `*` is refused with the allowed form, and an
//! origin without a scheme is refused with the one it probably meant.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::text::escape;

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

/// What every `--allow-host` refusal says is allowed.
const FORM: &str = "an origin is http(s)://host[:port], or http(s)://*.domain[:port] for every \
                    subdomain of a domain, as in `https://*.example.com`";

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

    /// Parses one exact origin such as `https://secretsmanager.us-east-1.amazonaws.com`
    /// or `http://127.0.0.1:4566` (no wildcard: see [`OriginGrant::parse`]).
    pub fn parse(text: &str) -> Result<Origin> {
        match OriginGrant::parse(text)? {
            OriginGrant::Exact(origin) => Ok(origin),
            OriginGrant::Subdomains { .. } => Err(refusal(text, "a wildcard is not allowed here")),
        }
    }

    /// The origin `url_text` names; refusals quote `text`, what the
    /// operator typed.
    fn parse_url(text: &str, url_text: &str) -> Result<Origin> {
        let bad = |why: &str| refusal(text, why);
        let url = url::Url::parse(url_text).map_err(|e| bad(&format!("{e}; {FORM}")))?;
        let scheme = url.scheme().to_string();
        if scheme != "http" && scheme != "https" {
            return Err(bad(&format!("the scheme must be http or https; {FORM}")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(&format!("an origin has no user or password; {FORM}")));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(&format!("an origin has no path or query; {FORM}")));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad(&format!("the host is missing; {FORM}"))),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad(&format!("the port is missing; {FORM}")))?;
        Ok(Origin { scheme, host, port })
    }
}

/// A refusal of `--allow-host TEXT`, on one line.
fn refusal(text: &str, why: &str) -> Error {
    Error::invalid(format!("--allow-host `{}`: {why}", escape(text)))
}

/// What an operator grants HTTP to: one exact origin, or every subdomain of
/// a domain with one scheme and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginGrant {
    Exact(Origin),
    /// `scheme://*.domain:port`: hosts ending in `.domain`, at any depth
    /// (`a.domain`, `a.b.domain`), never `domain` itself nor an IP address.
    Subdomains {
        scheme: String,
        domain: String,
        port: u16,
    },
}

impl fmt::Display for OriginGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginGrant::Exact(origin) => origin.fmt(f),
            OriginGrant::Subdomains {
                scheme,
                domain,
                port,
            } => write!(f, "{scheme}://*.{domain}:{port}"),
        }
    }
}

impl OriginGrant {
    /// Parses an operator's grant: `http://127.0.0.1:4566`,
    /// `https://secretsmanager.us-east-1.amazonaws.com`, or
    /// `https://*.amazonaws.com`. Refusals are one line saying the allowed
    /// form; a grant without a scheme is refused with the one it probably
    /// meant.
    pub fn parse(text: &str) -> Result<OriginGrant> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(no_scheme(text));
        };
        let Some(rest) = rest.strip_prefix("*.").filter(|domain| !domain.is_empty()) else {
            if text.contains('*') {
                return Err(bad_wildcard(text));
            }
            return Origin::parse_url(text, text).map(OriginGrant::Exact);
        };
        if rest.contains('*') {
            return Err(bad_wildcard(text));
        }
        let origin = Origin::parse_url(text, &format!("{scheme}://{rest}"))?;
        if origin.ip_literal().is_some() {
            return Err(refusal(
                text,
                "a wildcard takes a domain name, not an IP address; grant each address",
            ));
        }
        if !origin.host.contains('.') || origin.host.split('.').any(str::is_empty) {
            return Err(refusal(
                text,
                "a wildcard takes a domain of two or more labels, as in `https://*.example.com`",
            ));
        }
        Ok(OriginGrant::Subdomains {
            scheme: origin.scheme,
            domain: origin.host,
            port: origin.port,
        })
    }

    /// Whether a request to `origin` is granted: the same origin, or, for a
    /// pattern, a subdomain of its domain with the same scheme and port.
    pub fn matches(&self, origin: &Origin) -> bool {
        match self {
            OriginGrant::Exact(granted) => granted == origin,
            OriginGrant::Subdomains {
                scheme,
                domain,
                port,
            } => {
                origin.scheme == *scheme
                    && origin.port == *port
                    && origin.ip_literal().is_none()
                    && is_subdomain(&origin.host, domain)
            }
        }
    }
}

/// Whether `host` is one or more non-empty labels followed by `.domain`.
fn is_subdomain(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .and_then(|labels| labels.strip_suffix('.'))
        .is_some_and(|labels| !labels.is_empty() && labels.split('.').all(|l| !l.is_empty()))
}

/// A `*` anywhere but as the host's leading `*.` label.
fn bad_wildcard(text: &str) -> Error {
    refusal(
        text,
        "a wildcard is only a leading `*.` label on the host, as in `https://*.example.com`",
    )
}

/// `HOST[:PORT]` without a scheme: refused, with the origin it probably
/// meant when there is one (`http` for an IP address or `localhost`, whose
/// services are usually local ones, and for port 80; `https` otherwise).
fn no_scheme(text: &str) -> Error {
    let meant = OriginGrant::parse(&format!("https://{text}"))
        .ok()
        .map(|grant| {
            let local = match &grant {
                OriginGrant::Exact(o) => o.ip_literal().is_some() || o.host == "localhost",
                OriginGrant::Subdomains { .. } => false,
            };
            let port_80 = text.rsplit_once(':').is_some_and(|(_, port)| port == "80");
            let scheme = if local || port_80 { "http" } else { "https" };
            format!("{scheme}://{text}")
        });
    match meant {
        Some(meant) => Error::invalid(format!(
            "--allow-host `{}` has no scheme; did you mean `{}`?",
            escape(text),
            escape(&meant)
        )),
        None => refusal(text, FORM),
    }
}

/// Checks and normalises a list of granted origins.
pub fn check_origins(origins: &[String]) -> Result<Vec<OriginGrant>> {
    origins.iter().map(|o| OriginGrant::parse(o)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn origin_of(uri: &str) -> Origin {
        Origin::of_uri(&uri.parse().unwrap()).unwrap()
    }

    fn grant(text: &str) -> OriginGrant {
        OriginGrant::parse(text).unwrap()
    }

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
        assert_eq!(
            grant("HTTPS://*.AmazonAWS.com").to_string(),
            "https://*.amazonaws.com:443"
        );
    }

    #[test]
    fn request_uris_map_to_the_same_origins_as_grants() {
        assert_eq!(
            origin_of("https://SecretsManager.us-east-1.amazonaws.com/x?y"),
            Origin::parse("https://secretsmanager.us-east-1.amazonaws.com").unwrap()
        );
        assert_eq!(
            origin_of("http://[::1]:8080/"),
            Origin::parse("http://[::1]:8080").unwrap()
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
            "https://",
        ] {
            assert!(OriginGrant::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wildcard_is_only_a_leading_label_and_says_so() {
        for bad in [
            "*",
            "https://*",
            "https://*.",
            "https://**.amazonaws.com",
            "https://*foo.com",
            "https://foo.*.com",
            "https://*.*.com",
            "https://a*.example.com",
            "https://example.com:*",
            "https://example.com/*",
            "*://example.com",
        ] {
            let err = OriginGrant::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Invalid, "{bad}");
            assert!(!err.detail().contains('\n'), "{err}");
            assert!(err.detail().contains("*.example.com"), "{bad}: {err}");
        }
        for (bad, why) in [
            ("https://*.com", "two or more labels"),
            ("https://*.0.0.1", "not an IP address"),
            ("https://*.example..com", "two or more labels"),
        ] {
            let err = OriginGrant::parse(bad).unwrap_err();
            assert!(err.detail().contains(why), "{bad}: {err}");
        }
        assert!(Origin::parse("https://*.example.com").is_err());
    }

    #[test]
    fn an_origin_without_a_scheme_is_refused_with_the_one_it_meant() {
        for (text, meant) in [
            ("127.0.0.1:4566", "http://127.0.0.1:4566"),
            ("localhost:8200", "http://localhost:8200"),
            ("example.com:80", "http://example.com:80"),
            (
                "secretsmanager.us-east-1.amazonaws.com",
                "https://secretsmanager.us-east-1.amazonaws.com",
            ),
            ("*.amazonaws.com", "https://*.amazonaws.com"),
        ] {
            let err = OriginGrant::parse(text).unwrap_err();
            assert_eq!(
                err.detail(),
                format!("--allow-host `{text}` has no scheme; did you mean `{meant}`?")
            );
            OriginGrant::parse(meant).unwrap();
        }
        let err = OriginGrant::parse("not an origin").unwrap_err();
        assert!(
            err.detail().contains("an origin is http(s)://host"),
            "{err}"
        );
    }

    #[test]
    fn a_pattern_matches_subdomains_at_any_depth_with_its_scheme_and_port() {
        let aws = grant("https://*.amazonaws.com");
        for yes in [
            "https://secretsmanager.us-east-1.amazonaws.com",
            "https://sts.amazonaws.com/",
            "https://SecretsManager.eu-west-1.AmazonAWS.com:443/x",
        ] {
            assert!(aws.matches(&origin_of(yes)), "{yes}");
        }
        for no in [
            "https://amazonaws.com",
            "https://evil.com/?x=.amazonaws.com",
            "https://amazonaws.com.evil.com",
            "https://evilamazonaws.com",
            "http://secretsmanager.us-east-1.amazonaws.com",
            "https://secretsmanager.us-east-1.amazonaws.com:8443",
        ] {
            assert!(!aws.matches(&origin_of(no)), "{no}");
        }
        let port = grant("http://*.example.com:8200");
        assert!(port.matches(&origin_of("http://vault.example.com:8200")));
        assert!(!port.matches(&origin_of("http://vault.example.com")));
        let exact = grant("http://127.0.0.1:4566");
        assert!(exact.matches(&origin_of("http://127.0.0.1:4566/x")));
        assert!(!exact.matches(&origin_of("http://localhost:4566/x")));
    }

    proptest! {
        #[test]
        fn no_pattern_matches_a_host_outside_its_domain(
            domain in "[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,8}){1,3}",
            host in "[a-z0-9.-]{0,30}",
            suffix in prop::bool::ANY,
        ) {
            // Half the hosts end in the domain (with or without the dot).
            let host = if suffix { format!("{host}{domain}") } else { host };
            let pattern = OriginGrant::Subdomains {
                scheme: "https".into(),
                domain: domain.clone(),
                port: 443,
            };
            let origin = Origin { scheme: "https".into(), host: host.clone(), port: 443 };
            if pattern.matches(&origin) {
                prop_assert!(host.ends_with(&format!(".{domain}")), "{host} under {domain}");
                prop_assert!(host.len() > domain.len() + 1);
            }
        }

        #[test]
        fn every_subdomain_of_a_pattern_matches(
            labels in "[a-z0-9]{1,8}(\\.[a-z0-9-]{1,8}){0,3}",
            domain in "[a-z][a-z0-9]{0,7}\\.[a-z]{2,6}",
        ) {
            let pattern = grant(&format!("https://*.{domain}"));
            let host = format!("{labels}.{domain}");
            let origin = Origin { scheme: "https".into(), host, port: 443 };
            prop_assert!(pattern.matches(&origin), "{origin}");
        }
    }
}
