//! Turning Google's error replies (`{"error": {"code", "status",
//! "message"}}`) into the WIT `error` variants: by their `status`, else by
//! the HTTP status (`flavor_kit::errors`, as transport failures).
//!
//! Guards against: secrets in messages (every Google message passes
//! `redact` with the token, the key and the call's values); a `status`
//! that is not a plain code (it is not repeated).

use flavor_kit::errors::{Kind, redact};
use serde_json::Value;

use crate::Error;

/// Google's API as messages name it.
pub const BACKEND: &str = "Secret Manager";

/// The WIT error for HTTP `status` with Google's error `body`; `sensitive`
/// strings are masked in its message.
pub fn from_google(op: &str, status: u16, body: &[u8], sensitive: &[&str]) -> Error {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let code = google_status(body);
    let code = code.as_str();
    let message = redact(error["message"].as_str().unwrap_or(""), sensitive);
    if code.is_empty() {
        return flavor_kit::errors::from_status(op, status, &message);
    }
    let text = if message.is_empty() {
        format!("{op}: {code}")
    } else {
        format!("{op}: {code}: {message}")
    };
    let kind = match code {
        "NOT_FOUND" => Kind::NotFound,
        "ALREADY_EXISTS" => Kind::AlreadyExists,
        "PERMISSION_DENIED" | "UNAUTHENTICATED" => Kind::Denied,
        _ => Kind::Backend,
    };
    kind.error(text)
}

/// The status Google names in an error `body` (`NOT_FOUND`, `ABORTED`, ...),
/// if it is a plain code; empty otherwise.
pub fn google_status(body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    parsed["error"]["status"]
        .as_str()
        .filter(|s| {
            (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .unwrap_or("")
        .to_string()
}

/// A reply to `op` that does not have the shape Google documents.
pub fn malformed(op: &str, why: &str) -> Error {
    flavor_kit::errors::malformed(BACKEND, op, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn google(code: u16, status: &str, message: &str) -> Vec<u8> {
        serde_json::json!({ "error": { "code": code, "status": status, "message": message } })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn maps_google_statuses() {
        let cases = [
            (404, "NOT_FOUND", Kind::NotFound),
            (409, "ALREADY_EXISTS", Kind::AlreadyExists),
            (403, "PERMISSION_DENIED", Kind::Denied),
            (401, "UNAUTHENTICATED", Kind::Denied),
            (400, "INVALID_ARGUMENT", Kind::Backend),
            (400, "FAILED_PRECONDITION", Kind::Backend),
            (409, "ABORTED", Kind::Backend),
            (429, "RESOURCE_EXHAUSTED", Kind::Backend),
            (503, "UNAVAILABLE", Kind::Backend),
        ];
        for (code, status, expected) in cases {
            let e = from_google("get", code, &google(code, status, "m"), &[]);
            assert_eq!(Kind::of(&e), expected, "{status}");
        }
        let bare = |status, body: &[u8]| Kind::of(&from_google("get", status, body, &[]));
        assert_eq!(bare(404, b"<html>"), Kind::NotFound);
        assert_eq!(bare(403, b""), Kind::Denied);
        assert_eq!(bare(502, b""), Kind::Backend);
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
