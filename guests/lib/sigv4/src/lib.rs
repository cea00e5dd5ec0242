//! AWS Signature Version 4 request signing, pure Rust and free of I/O.
//!
//! Given a request (method, host, path, query, headers, payload), a region
//! and service, credentials and the signing time, [`sign`] computes the
//! canonical request, the string to sign, the derived signing key and the
//! `Authorization` header, plus the `X-Amz-Date` and (with temporary
//! credentials) `X-Amz-Security-Token` headers the request must carry.
//!
//! The clock is passed in ([`SigningTime`]) so the signer is deterministic and
//! testable against AWS's published test suite (see `tests.rs`).
//!
//! Guards against: credentials leaking through `Debug` (the secret key and
//! session token are never printed); a caller-supplied `Host`, `X-Amz-Date`,
//! `X-Amz-Security-Token` or `Authorization` header contradicting the values
//! the signer itself sets (such headers are ignored, the signer's win); header
//! names differing only in case or repeated (they are folded into one
//! canonical header, values joined with `,` in the order given).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

mod time;
pub use time::SigningTime;

#[cfg(test)]
mod tests;

/// The only algorithm this crate implements.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Long-term or temporary AWS credentials.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Set for temporary (STS) credentials; sent and signed as
    /// `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The request to sign, as it will be sent.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ... (used verbatim).
    pub method: &'a str,
    /// The `Host` header value: the endpoint's authority, with the port when
    /// it is not the scheme's default (e.g. `127.0.0.1:5000`).
    pub host: &'a str,
    /// The path as sent on the wire, already normalized (no `.`/`..`
    /// segments). Each segment is URI-encoded once more for the canonical
    /// request, as SigV4 requires for every service but S3.
    pub path: &'a str,
    /// Query parameters, not encoded; [`canonical_query_string`] encodes and
    /// sorts them (use it to build the query that is sent, too).
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign besides `host`, `x-amz-date` and
    /// `x-amz-security-token`, which the signer adds itself.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body.
    pub payload: &'a [u8],
}

/// Where the signature is valid: `<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// The outcome of [`sign`]: the headers to add, and the intermediate strings
/// (for tests and diagnostics; none of them holds a secret).
#[derive(Clone)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    /// Lowercase hex HMAC-SHA256 of the string to sign.
    pub signature: String,
    /// The `Authorization` header value.
    pub authorization: String,
    /// The `X-Amz-Date` header value, `YYYYMMDD'T'HHMMSS'Z'`.
    pub x_amz_date: String,
    /// The `X-Amz-Security-Token` header value, with temporary credentials.
    security_token: Option<String>,
}

impl Signed {
    /// The headers the request must carry (besides `Host`, which the HTTP
    /// stack sets from the authority, and the caller's own signed headers).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("authorization", self.authorization.clone()),
            ("x-amz-date", self.x_amz_date.clone()),
        ];
        if let Some(token) = &self.security_token {
            headers.push(("x-amz-security-token", token.clone()));
        }
        headers
    }
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("authorization", &self.authorization)
            .field("x_amz_date", &self.x_amz_date)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "***"),
            )
            .finish_non_exhaustive()
    }
}

/// Headers the signer sets itself; a caller's copy is ignored.
const SIGNER_HEADERS: &[&str] = &[
    "host",
    "x-amz-date",
    "x-amz-security-token",
    "authorization",
];

/// Signs `request` for `scope` with `credentials` at `time`.
pub fn sign(
    request: &Request<'_>,
    scope: Scope<'_>,
    credentials: &Credentials,
    time: SigningTime,
) -> Signed {
    let x_amz_date = time.amz_date();
    let date = time.date_stamp();

    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| !SIGNER_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
        .map(|(name, value)| (name.to_ascii_lowercase(), trim_header_value(value)))
        .collect();
    headers.push(("host".to_string(), request.host.to_string()));
    headers.push(("x-amz-date".to_string(), x_amz_date.clone()));
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".to_string(), token.clone()));
    }
    let (canonical_headers, signed_headers) = canonical_headers(headers);

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(request.path),
        canonical_query_string(request.query),
        canonical_headers,
        signed_headers,
        hex::encode(Sha256::digest(request.payload)),
    );
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{x_amz_date}\n{credential_scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes())),
    );
    let key = signing_key(&credentials.secret_access_key, &date, scope);
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={signed_headers}, \
         Signature={signature}",
        credentials.access_key_id,
    );
    Signed {
        canonical_request,
        string_to_sign,
        signature,
        authorization,
        x_amz_date,
        security_token: credentials.session_token.clone(),
    }
}

/// The SigV4 signing key:
/// HMAC chain over `AWS4<secret>`, date, region, service, `aws4_request`.
pub fn signing_key(secret_access_key: &str, date_stamp: &str, scope: Scope<'_>) -> [u8; 32] {
    let k_date = hmac_sha256(
        format!("AWS4{secret_access_key}").as_bytes(),
        date_stamp.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, scope.region.as_bytes());
    let k_service = hmac_sha256(&k_region, scope.service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Encodes and sorts query parameters as SigV4 and the wire both want:
/// `k1=v1&k2=v2`, each key and value URI-encoded, sorted by key then value.
pub fn canonical_query_string(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Each path segment URI-encoded (slashes kept); an empty path is `/`.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    uri_encode(path, false)
}

/// RFC 3986 percent-encoding of everything but the unreserved characters
/// `A-Z a-z 0-9 - _ . ~` (and `/` unless `encode_slash`), uppercase hex.
fn uri_encode(input: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &byte in input.as_bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (byte == b'/' && !encode_slash);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Trims a header value and collapses runs of spaces to one, as SigV4 does.
fn trim_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `name:value\n` lines sorted by name (repeated names joined with `,` in the
/// order given), and the `;`-joined list of signed header names.
fn canonical_headers(headers: Vec<(String, String)>) -> (String, String) {
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = merged
        .iter()
        .map(|(n, v)| format!("{n}:{v}\n"))
        .collect::<String>();
    let signed = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (canonical, signed)
}
