//! Turning Vault's error replies into the WIT `error` variants: its HTTP
//! statuses and `{"errors": [...]}` bodies. Transport failures and the
//! status-to-kind mapping every backend shares are left to
//! `flavor_kit::errors`.
//!
//! Guards against: secrets in messages (every Vault message passes
//! `redact` with the credentials and the call's values) and a
//! check-and-set refusal being read as a server failure.

use flavor_kit::errors::{redact, status_text};
use serde_json::Value;

use crate::Error;

/// Vault as messages name it.
pub const BACKEND: &str = "Vault";

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
    redact(&joined, sensitive)
}

/// The WIT error for HTTP `status` with Vault's `message`.
pub fn from_status(op: &str, status: u16, message: &str) -> Error {
    // KV version 2 refuses a write whose `cas` is not the current version:
    // with `cas = 0` that means the secret exists.
    if status == 400 && message.contains("check-and-set") {
        return Error::AlreadyExists(status_text(op, status, message));
    }
    flavor_kit::errors::from_status(op, status, message)
}

/// A reply to `op` that does not have the shape Vault documents.
pub fn malformed(op: &str, why: &str) -> Error {
    flavor_kit::errors::malformed(BACKEND, op, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flavor_kit::errors::Kind;

    #[test]
    fn maps_statuses() {
        let kind = |status, message| Kind::of(&from_status("write", status, message));
        assert_eq!(kind(404, ""), Kind::NotFound);
        assert_eq!(kind(403, "permission denied"), Kind::Denied);
        assert_eq!(
            kind(
                400,
                "check-and-set parameter did not match the current version"
            ),
            Kind::AlreadyExists
        );
        assert_eq!(kind(400, "bad path"), Kind::Backend);
        assert_eq!(kind(503, "sealed"), Kind::Backend);
        assert!(matches!(
            from_status("writing secret `dup`", 400, "check-and-set parameter did not match"),
            Error::AlreadyExists(m)
                if m == "writing secret `dup`: HTTP 400: check-and-set parameter did not match"
        ));
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
