//! A deliberately small `http(s)://authority/path?query` parser: enough to
//! split an operator-configured endpoint into what `wasi:http` wants
//! (scheme, authority, path-with-query) without pulling in a URL crate.
//!
//! Guards against: URLs whose meaning differs between readers — user info
//! (`http://a@b/`), fragments, backslashes, whitespace and control
//! characters are refused rather than interpreted; so is any scheme but
//! `http` and `https`, and an empty host.

/// A parsed `http`/`https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// `host` or `host:port`, exactly as given (lowercased host).
    pub authority: String,
    /// Starts with `/`; `/` when the URL had no path.
    pub path: String,
    /// Without the `?`; empty when absent.
    pub query: String,
}

impl Url {
    /// Parses `text`; the error says what is wrong, without echoing it.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(rest) = strip_prefix_ci(text, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "http://") {
            (false, rest)
        } else {
            return Err("the URL must start with http:// or https://".into());
        };
        if rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\' || c == '#')
        {
            return Err("the URL contains whitespace, a backslash or a fragment".into());
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.contains('@') {
            return Err("the URL must not carry user info".into());
        }
        validate_authority(authority)?;
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, query),
            None => (tail, ""),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            https,
            authority: authority.to_ascii_lowercase(),
            path: path.to_string(),
            query: query.to_string(),
        })
    }

    /// `/path` or `/path?query`.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// `scheme://authority`, the part an operator grants; safe to show.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// This URL with `segment` appended to its path (one `/` between them).
    pub fn join(&self, segment: &str) -> Url {
        let mut url = self.clone();
        if !url.path.ends_with('/') {
            url.path.push('/');
        }
        url.path.push_str(segment.trim_start_matches('/'));
        url
    }
}

/// `value` percent-encoded for a query parameter or a
/// `application/x-www-form-urlencoded` body: every byte but the unreserved
/// `A-Z a-z 0-9 - . _ ~` as `%XX`, so a value can never add a parameter or
/// end the one it is in.
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn validate_authority(authority: &str) -> Result<(), String> {
    let (host_ok, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("the URL's IPv6 host lacks a closing `]`")?;
        let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("junk after the IPv6 host")?),
        };
        (host_ok, port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        (host_ok, port)
    };
    if !host_ok {
        return Err("the URL has no valid host".into());
    }
    if let Some(port) = port
        && (!port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err())
    {
        return Err("the URL's port is not a number from 0 to 65535".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Url, percent_encode};

    #[test]
    fn parses_endpoints() {
        let url = Url::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(
            (url.https, url.authority.as_str(), url.path.as_str()),
            (false, "127.0.0.1:5000", "/")
        );
        let url = Url::parse("HTTPS://SecretsManager.eu-west-1.amazonaws.com/").unwrap();
        assert!(url.https);
        assert_eq!(url.authority, "secretsmanager.eu-west-1.amazonaws.com");
        assert_eq!(
            url.origin(),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        let url = Url::parse("http://[::1]:8080/base?x=1").unwrap();
        assert_eq!(url.authority, "[::1]:8080");
        assert_eq!(url.path_and_query(), "/base?x=1");
        assert_eq!(url.join("name").path, "/base/name");
        assert_eq!(Url::parse("http://h").unwrap().join("/ok").path, "/ok");
    }

    #[test]
    fn refuses_ambiguous_urls() {
        for bad in [
            "ftp://h/",
            "http://",
            "http://user@h/",
            "http://h/#frag",
            "http://h /",
            "http://h:99999/",
            "http://h:/",
            "http://h:+80/",
            "http://[::1/",
            "http://h\\x/",
            "h:80",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(
            percent_encode("urn:ietf:params:oauth:grant-type:jwt-bearer"),
            "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        );
        assert_eq!(
            percent_encode("labels.flavorbox_namespace=\"a-b\""),
            "labels.flavorbox_namespace%3D%22a-b%22"
        );
        assert_eq!(percent_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    }
}
