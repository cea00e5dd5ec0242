//! Turning what went wrong into the WIT `error` variants: Vault's HTTP
//! statuses and `{"errors": [...]}` bodies, `wasi:http` error codes, and
//! malformed replies.
//!
//! Guards against: secrets in messages (every Vault message passes
//! `redact::redact` with the credentials and the call's values; transport
//! errors name the origin only, never a path, header or body) and a
//! check-and-set refusal being read as a server failure.

use serde_json::Value;
use wasi_http_client::ErrorCode;

use crate::Error;

/// The text of Vault's `errors` list in `body`, redacted; empty when there
/// is none.
pub fn message(body: &[u8], sensitive: &[&str]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let joined = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    // Vault wraps several errors as "1 error occurred:\n\t* permission
    // denied\n\n": keep the part that says what happened.
    let joined = match joined.split_once("error occurred:") {
        Some((_, rest)) => rest.trim_start_matches(['\n', '\t', ' ', '*']).to_string(),
        None => joined,
    };
    redact::redact(&joined, sensitive)
}

/// The WIT error for HTTP `status` with Vault's `message`.
pub fn from_status(op: &str, status: u16, message: &str) -> Error {
    let text = if message.is_empty() {
        format!("{op}: HTTP {status}")
    } else {
        format!("{op}: HTTP {status}: {message}")
    };
    match status {
        404 => Error::NotFound(text),
        401 | 403 => Error::Denied(text),
        // KV version 2 refuses a write whose `cas` is not the current
        // version: with `cas = 0` that means the secret exists.
        400 if message.contains("check-and-set") => Error::AlreadyExists(text),
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

/// A reply that does not have the shape Vault documents.
pub fn malformed(op: &str, why: &str) -> Error {
    Error::Backend(format!("unexpected {op} reply from Vault: {why}"))
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

    fn kind(e: Error) -> &'static str {
        match e {
            Error::NotFound(_) => "not-found",
            Error::AlreadyExists(_) => "already-exists",
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Backend(_) => "backend",
        }
    }

    #[test]
    fn maps_statuses() {
        assert_eq!(kind(from_status("get", 404, "")), "not-found");
        assert_eq!(kind(from_status("get", 403, "permission denied")), "denied");
        assert_eq!(
            kind(from_status(
                "write",
                400,
                "check-and-set parameter did not match the current version"
            )),
            "already-exists"
        );
        assert_eq!(kind(from_status("write", 400, "bad path")), "backend");
        assert_eq!(kind(from_status("get", 503, "sealed")), "backend");
    }

    #[test]
    fn reads_and_redacts_vault_errors() {
        let body =
            br#"{"errors":["1 error occurred:\n\t* permission denied for hvs.TOKEN123\n\n"]}"#;
        assert_eq!(
            message(body, &["hvs.TOKEN123"]),
            "permission denied for ***"
        );
        assert_eq!(message(br#"{"errors":[]}"#, &[]), "");
        assert_eq!(message(b"<html>", &[]), "");
        assert_eq!(message(br#"{"errors":["a","b"]}"#, &[]), "a; b");
    }
}
