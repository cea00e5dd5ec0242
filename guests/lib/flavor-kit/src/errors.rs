//! The contract's error kinds, and what an HTTP flavor turns into them:
//! HTTP statuses, `wasi:http` transport failures, and replies that do not
//! have the shape the backend documents.
//!
//! Guards against: secrets in messages (a transport failure names the
//! endpoint's origin only, never a path, header or body; text a backend
//! sent passes [`redact`] with the call's credentials and values before it
//! is put in a message); a kind lost or changed when a message is rewritten
//! ([`Kind`] carries it across, and is the one place a kind the contract
//! adds is mapped); the host's refusal of a request read as a backend
//! failure (`HTTP-request-denied` is `denied`, not `backend`).

use wasi_http_client::ErrorCode;

use crate::Error;
use crate::log::{self, Level};

/// Backend text made safe to put in a message: its first line, bounded,
/// with the credentials and secret values given replaced by `***`.
pub use redact::redact;

/// The kind of an [`Error`], without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    AlreadyExists,
    Invalid,
    Denied,
    Backend,
}

impl Kind {
    /// The kind of `error`.
    pub fn of(error: &Error) -> Kind {
        match error {
            Error::NotFound(_) => Kind::NotFound,
            Error::AlreadyExists(_) => Kind::AlreadyExists,
            Error::Invalid(_) => Kind::Invalid,
            Error::Denied(_) => Kind::Denied,
            Error::Backend(_) => Kind::Backend,
        }
    }

    /// The error of this kind with `message`.
    pub fn error(self, message: String) -> Error {
        match self {
            Kind::NotFound => Error::NotFound(message),
            Kind::AlreadyExists => Error::AlreadyExists(message),
            Kind::Invalid => Error::Invalid(message),
            Kind::Denied => Error::Denied(message),
            Kind::Backend => Error::Backend(message),
        }
    }

    /// What an HTTP status alone says: 404 `not-found`, 401 and 403
    /// `denied`, anything else `backend`. A flavor whose backend says more
    /// (an error code in the body) maps that first.
    pub fn from_status(status: u16) -> Kind {
        match status {
            404 => Kind::NotFound,
            401 | 403 => Kind::Denied,
            _ => Kind::Backend,
        }
    }

    /// The kind in words, as [`describe`] prints it.
    pub fn words(self) -> &'static str {
        match self {
            Kind::NotFound => "not found",
            Kind::AlreadyExists => "already exists",
            Kind::Invalid => "invalid",
            Kind::Denied => "denied",
            Kind::Backend => "backend",
        }
    }
}

/// `error` taken apart into its kind and message.
pub fn into_parts(error: Error) -> (Kind, String) {
    let kind = Kind::of(&error);
    let (Error::NotFound(message)
    | Error::AlreadyExists(message)
    | Error::Invalid(message)
    | Error::Denied(message)
    | Error::Backend(message)) = error;
    (kind, message)
}

/// `error` of the same kind, its message rewritten by `rewrite`.
pub fn map_message(error: Error, rewrite: impl FnOnce(String) -> String) -> Error {
    let (kind, message) = into_parts(error);
    kind.error(rewrite(message))
}

/// `error`, its message prefixed with how far a bulk deletion got.
pub fn with_progress(error: Error, done: usize, total: usize) -> Error {
    map_message(error, |m| {
        format!("deleted {done} of {total} secrets, then: {m}")
    })
}

/// A one-line description of `error`, for a log line.
pub fn describe(error: &Error) -> String {
    let (Error::NotFound(message)
    | Error::AlreadyExists(message)
    | Error::Invalid(message)
    | Error::Denied(message)
    | Error::Backend(message)) = error;
    format!("{}: {message}", Kind::of(error).words())
}

/// Logs `error`, which does not fail the call (a best-effort step after
/// the one that counts), at warn level: `<context>: <kind>: <message>`.
pub fn log_ignored(context: &str, error: &Error) {
    log::log(Level::Warn, &format!("{context}: {}", describe(error)));
}

/// Logs that secret `name` was written but `what` (a mirror of part of it,
/// e.g. `its schema tag`) was not: the write stands, so `error` does not
/// fail the call.
pub fn log_partial_update(name: &str, what: &str, error: &Error) {
    log_ignored(
        &format!("secret `{name}` updated, but {what} was not"),
        error,
    );
}

/// The error for HTTP `status` of call `op`, by [`Kind::from_status`]:
/// `<op>: HTTP <status>`, then `: <message>` unless `message` is empty.
/// `message` must already be redacted.
pub fn from_status(op: &str, status: u16, message: &str) -> Error {
    Kind::from_status(status).error(status_text(op, status, message))
}

/// `<op>: HTTP <status>`, then `: <message>` unless `message` is empty.
pub fn status_text(op: &str, status: u16, message: &str) -> String {
    if message.is_empty() {
        format!("{op}: HTTP {status}")
    } else {
        format!("{op}: HTTP {status}: {message}")
    }
}

/// The error for call `op` to `origin` that got no usable response: the
/// host refusing it is `denied`; anything else (connection, TLS, a reply
/// too large) is `backend`, the `wasi:http` code in words.
pub fn from_transport(error: wasi_http_client::Error, op: &str, origin: &str) -> Error {
    match error {
        wasi_http_client::Error::Http(ErrorCode::HttpRequestDenied) => Error::Denied(format!(
            "the host refused {op}: HTTP to {origin} is not granted to this flavor"
        )),
        wasi_http_client::Error::Http(code) => Error::Backend(format!(
            "{op} to {origin} failed: {}",
            wasi_http_client::describe_code(&code)
        )),
        other => Error::Backend(format!("{op} to {origin} failed: {other}")),
    }
}

/// A reply to call `op` that does not have the shape `backend` (as
/// messages name it, e.g. `Vault`) documents.
pub fn malformed(backend: &str, op: &str, why: &str) -> Error {
    Error::Backend(format!("unexpected {op} reply from {backend}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 5] = [
        Kind::NotFound,
        Kind::AlreadyExists,
        Kind::Invalid,
        Kind::Denied,
        Kind::Backend,
    ];

    #[test]
    fn kinds_survive_a_rewritten_message() {
        for kind in KINDS {
            let error = with_progress(kind.error("gone".into()), 2, 5);
            assert_eq!(Kind::of(&error), kind);
            assert_eq!(
                into_parts(error),
                (kind, "deleted 2 of 5 secrets, then: gone".to_string())
            );
        }
    }

    #[test]
    fn descriptions_name_the_kind() {
        let described: Vec<String> = KINDS
            .iter()
            .map(|kind| describe(&kind.error("m".into())))
            .collect();
        assert_eq!(
            described,
            [
                "not found: m",
                "already exists: m",
                "invalid: m",
                "denied: m",
                "backend: m"
            ]
        );
    }

    #[test]
    fn statuses_alone_say_little() {
        assert_eq!(Kind::from_status(404), Kind::NotFound);
        assert_eq!(Kind::from_status(401), Kind::Denied);
        assert_eq!(Kind::from_status(403), Kind::Denied);
        for status in [400, 409, 429, 500, 503] {
            assert_eq!(Kind::from_status(status), Kind::Backend, "{status}");
        }
        assert!(matches!(
            from_status("reading `db`", 404, ""),
            Error::NotFound(m) if m == "reading `db`: HTTP 404"
        ));
        assert!(matches!(
            from_status("listing", 403, "permission denied"),
            Error::Denied(m) if m == "listing: HTTP 403: permission denied"
        ));
    }

    #[test]
    fn transport_failures_name_the_origin_only() {
        let origin = "https://vault.example:8200";
        let cases = [
            (
                wasi_http_client::Error::Http(ErrorCode::HttpRequestDenied),
                Kind::Denied,
                "the host refused reading `db`: \
                 HTTP to https://vault.example:8200 is not granted to this flavor",
            ),
            (
                wasi_http_client::Error::Http(ErrorCode::ConnectionRefused),
                Kind::Backend,
                "reading `db` to https://vault.example:8200 failed: connection refused",
            ),
            (
                wasi_http_client::Error::TooLarge { limit: 10 },
                Kind::Backend,
                "reading `db` to https://vault.example:8200 failed: \
                 response body larger than 10 bytes",
            ),
        ];
        for (error, kind, message) in cases {
            let error = from_transport(error, "reading `db`", origin);
            assert_eq!(into_parts(error), (kind, message.to_string()));
        }
    }

    #[test]
    fn malformed_replies_name_the_backend() {
        assert!(matches!(
            malformed("Vault", "listing secrets", "no data.keys"),
            Error::Backend(m) if m == "unexpected listing secrets reply from Vault: no data.keys"
        ));
    }
}
