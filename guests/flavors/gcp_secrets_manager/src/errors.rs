//! Turning what went wrong into the WIT `error` variants: Google's error
//! replies (`{"error": {"code", "status", "message"}}`), `wasi:http` error
//! codes, and malformed replies.
//!
//! Guards against: secrets in messages (every Google message passes
//! `redact::redact` with the token, the key and the call's values;
//! transport errors name the origin only, never a path, header or body).

use serde_json::Value;
use wasi_http_client::ErrorCode;

use crate::Error;

/// The WIT error for HTTP `status` with Google's error `body`; `sensitive`
/// strings are masked in its message.
pub fn from_google(op: &str, status: u16, body: &[u8], sensitive: &[&str]) -> Error {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let kind = error["status"]
        .as_str()
        .filter(|s| {
            (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .unwrap_or("");
    let message = redact::redact(error["message"].as_str().unwrap_or(""), sensitive);
    let text = match (kind, message.is_empty()) {
        ("", true) => format!("{op}: HTTP {status}"),
        ("", false) => format!("{op}: HTTP {status}: {message}"),
        (kind, true) => format!("{op}: {kind}"),
        (kind, false) => format!("{op}: {kind}: {message}"),
    };
    match (kind, status) {
        ("NOT_FOUND", _) | ("", 404) => Error::NotFound(text),
        ("ALREADY_EXISTS", _) => Error::AlreadyExists(text),
        ("PERMISSION_DENIED" | "UNAUTHENTICATED", _) | ("", 401 | 403) => Error::Denied(text),
        _ => Error::Backend(text),
    }
}

/// The WIT error for a request that got no usable response.
pub fn from_transport(error: wasi_http_client::Error, op: &str, origin: &str) -> Error {
    match error {
        wasi_http_client::Error::Http(ErrorCode::HttpRequestDenied) => Error::Denied(format!(
            "the host refused {op}: HTTP to {origin} is not granted to this flavor"
        )),
        wasi_http_client::Error::Http(code) => {
            Error::Backend(format!("{op} to {origin} failed: {code:?}"))
        }
        other => Error::Backend(format!("{op} to {origin} failed: {other}")),
    }
}

/// A reply that does not have the shape Google documents.
pub fn malformed(op: &str, why: &str) -> Error {
    Error::Backend(format!("unexpected {op} reply from Secret Manager: {why}"))
}

/// `error`, its message prefixed with how far a bulk deletion got.
pub fn with_progress(error: Error, done: usize, total: usize) -> Error {
    let prefix = |m: String| format!("deleted {done} of {total} secrets, then: {m}");
    match error {
        Error::NotFound(m) => Error::NotFound(prefix(m)),
        Error::AlreadyExists(m) => Error::AlreadyExists(prefix(m)),
        Error::Invalid(m) => Error::Invalid(prefix(m)),
        Error::Denied(m) => Error::Denied(prefix(m)),
        Error::Backend(m) => Error::Backend(prefix(m)),
    }
}

/// A one-line description of `error`, for a log line.
pub fn describe(error: &Error) -> String {
    match error {
        Error::NotFound(m) => format!("not found: {m}"),
        Error::AlreadyExists(m) => format!("already exists: {m}"),
        Error::Invalid(m) => format!("invalid: {m}"),
        Error::Denied(m) => format!("denied: {m}"),
        Error::Backend(m) => format!("backend: {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: &Error) -> &'static str {
        match e {
            Error::NotFound(_) => "not-found",
            Error::AlreadyExists(_) => "already-exists",
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Backend(_) => "backend",
        }
    }

    fn google(code: u16, status: &str, message: &str) -> Vec<u8> {
        serde_json::json!({ "error": { "code": code, "status": status, "message": message } })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn maps_google_statuses() {
        let cases = [
            (404, "NOT_FOUND", "not-found"),
            (409, "ALREADY_EXISTS", "already-exists"),
            (403, "PERMISSION_DENIED", "denied"),
            (401, "UNAUTHENTICATED", "denied"),
            (400, "INVALID_ARGUMENT", "backend"),
            (400, "FAILED_PRECONDITION", "backend"),
            (409, "ABORTED", "backend"),
            (429, "RESOURCE_EXHAUSTED", "backend"),
            (503, "UNAVAILABLE", "backend"),
        ];
        for (code, status, expected) in cases {
            let e = from_google("get", code, &google(code, status, "m"), &[]);
            assert_eq!(kind(&e), expected, "{status}");
        }
        assert_eq!(kind(&from_google("get", 404, b"<html>", &[])), "not-found");
        assert_eq!(kind(&from_google("get", 403, b"", &[])), "denied");
        assert_eq!(kind(&from_google("get", 502, b"", &[])), "backend");
    }

    #[test]
    fn messages_are_redacted_and_odd_statuses_dropped() {
        let body = google(400, "INVALID_ARGUMENT", "payload s3cr3t-value\nsecond line");
        let e = from_google("add", 400, &body, &["s3cr3t-value"]);
        assert!(
            matches!(&e, Error::Backend(m) if m == "add: INVALID_ARGUMENT: payload ***"),
            "{e:?}"
        );
        let body = google(500, "bad status\u{1b}[31m", "m");
        let e = from_google("get", 500, &body, &[]);
        assert!(
            matches!(&e, Error::Backend(m) if m == "get: HTTP 500: m"),
            "{e:?}"
        );
    }
}
