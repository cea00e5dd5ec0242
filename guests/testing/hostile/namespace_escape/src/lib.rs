//! Hostile test flavor `hostile_namespace_escape`.
//!
//! Every `register-secret` tries, in order, `storage::set` with the keys
//! `../escape`, `a/../../b`, `/etc/passwd`, `k\0nul`, a 100,000-byte key, the
//! empty key and `secrets/../../x`, then `storage::get("secrets/db_creds")`
//! (a secret another manager may hold; in this namespace it must be absent).
//! It returns:
//! - `backend("read another manager's secret")` if that get found a value
//!   (takes precedence);
//! - otherwise the first error any of the sets returned;
//! - otherwise `backend("escape attempts were not refused")`.
//!
//! Each attempt's outcome is logged at info level (`escape: set "<key>" ->
//! <result>`). Every other operation is honest (the `honest` crate).
//!
//! Host: must refuse every one of those keys (keys are 1-512 bytes of
//! printable ASCII without `..` segments) and keep managers' namespaces apart.

use honest::{Error, Secret, log, storage};

struct HostileNamespaceEscape;

/// At most the first 32 characters of `key`, for the log.
fn shorten(key: &str) -> String {
    let mut short: String = key.chars().take(32).collect();
    if short.len() < key.len() {
        short.push_str(&format!("...({} bytes)", key.len()));
    }
    short
}

/// Logs (info) how the host answered one attempt, for whoever debugs a test.
fn report<T: std::fmt::Debug>(attempt: &str, result: &Result<T, Error>) {
    log::log(
        log::Level::Info,
        &format!("escape: {attempt} -> {result:?}"),
    );
}

/// Tries every escape; the error to return, as described above.
fn escape() -> Error {
    let long_key = "a".repeat(100_000);
    let keys = [
        "../escape",
        "a/../../b",
        "/etc/passwd",
        "k\0nul",
        long_key.as_str(),
        "",
        "secrets/../../x",
    ];
    let mut first_error = None;
    for key in keys {
        let result = storage::set(key, b"escaped");
        report(&format!("set {:?}", shorten(key)), &result);
        if let Err(error) = result {
            first_error.get_or_insert(error);
        }
    }
    let read = storage::get("secrets/db_creds");
    report("get \"secrets/db_creds\"", &read);
    if let Ok(Some(_)) = read {
        return Error::Backend("read another manager's secret".to_string());
    }
    first_error.unwrap_or_else(|| Error::Backend("escape attempts were not refused".to_string()))
}

impl honest::Flavor for HostileNamespaceEscape {
    const NAME: &'static str = "hostile_namespace_escape";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every register-secret tries to leave its storage namespace.";

    fn register_secret(_secret: Secret) -> Result<(), Error> {
        Err(escape())
    }
}

honest::export_flavor!(HostileNamespaceEscape);
