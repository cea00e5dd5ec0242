//! Errors that say who is to blame.
//!
//! The CLI's exit code and message depend on whether the user's input was
//! bad, the operation failed (the flavor or its backend said no), the flavor
//! broke the sandbox, or the host itself failed. Every variant carries a
//! one-line, human-readable reason; none ever carries a secret value (flavor
//! text is masked before it gets here, see `capabilities::log::Masker`).

use std::fmt;

/// How a flavor broke the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Violation {
    /// The call ran past its wall-clock deadline.
    Deadline,
    /// The instance asked for more linear memory than it is allowed.
    Memory,
    /// The guest trapped (panic, stack overflow, unreachable, ...).
    Trap,
    /// The flavor pushed its storage past the quota.
    Quota,
    /// The flavor used a capability the operator did not grant.
    Denied,
    /// The flavor returned something that breaks the contract (a secret of
    /// another name, invalid names, oversized values, duplicate keys).
    Garbage,
    /// The flavor went past a fixed host cap: resources held, data handed
    /// to the host, instance limits (`policy::caps`).
    Limit,
}

impl Violation {
    pub const ALL: [Violation; 7] = [
        Violation::Deadline,
        Violation::Memory,
        Violation::Trap,
        Violation::Quota,
        Violation::Denied,
        Violation::Garbage,
        Violation::Limit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Violation::Deadline => "deadline",
            Violation::Memory => "memory",
            Violation::Trap => "trap",
            Violation::Quota => "quota",
            Violation::Denied => "denied",
            Violation::Garbage => "garbage",
            Violation::Limit => "limit",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure flavorbox reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is unacceptable (bad input from the user, or a request
    /// the flavor refused as invalid); nothing was written.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The named thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The named thing exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The flavor, its backend or the host's policy refused.
    #[error("denied: {0}")]
    Denied(String),
    /// The flavor's backend failed.
    #[error("backend: {0}")]
    Backend(String),
    /// The flavor broke the sandbox; its writes were rolled back.
    #[error("sandbox: {kind}: {detail}")]
    Sandbox { kind: Violation, detail: String },
    /// An evaluation judged a flavor unfit.
    #[error("verdict: FAIL: {0}")]
    Verdict(String),
    /// Another call changed the secrets manager's storage while this one
    /// ran, and it could not be run again in time; nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The host failed (its store, its files, the engine).
    #[error("host: {0}")]
    Host(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    pub fn host(msg: impl fmt::Display) -> Self {
        Error::Host(msg.to_string())
    }

    pub fn sandbox(kind: Violation, detail: impl Into<String>) -> Self {
        Error::Sandbox {
            kind,
            detail: detail.into(),
        }
    }

    /// The reason without its kind prefix, for quoting inside another
    /// message.
    pub fn detail(&self) -> String {
        match self {
            Error::Invalid(m)
            | Error::NotFound(m)
            | Error::AlreadyExists(m)
            | Error::Denied(m)
            | Error::Backend(m)
            | Error::Verdict(m)
            | Error::Conflict(m)
            | Error::Host(m) => m.clone(),
            Error::Sandbox { kind, detail } => format!("sandbox: {kind}: {detail}"),
        }
    }

    /// The CLI exit code: 1 the operation failed, 2 bad usage or input,
    /// 3 the flavor broke the sandbox.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) => 2,
            Error::Sandbox { .. } => 3,
            Error::NotFound(_)
            | Error::AlreadyExists(_)
            | Error::Denied(_)
            | Error::Backend(_)
            | Error::Verdict(_)
            | Error::Conflict(_)
            | Error::Host(_) => 1,
        }
    }

    /// A short machine-readable kind, used in JSON output and by `evaluate`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not-found",
            Error::AlreadyExists(_) => "already-exists",
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Backend(_) => "backend",
            Error::Sandbox { kind, .. } => kind.as_str(),
            Error::Verdict(_) => "verdict",
            Error::Conflict(_) => "conflict",
            Error::Host(_) => "host",
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::ReadOnly) => Error::Host(
                "the store is not writable (a read-only home); this command needs to write"
                    .to_string(),
            ),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Host(
                "the store is damaged (its file is malformed); restore it from a backup"
                    .to_string(),
            ),
            _ => Error::Host(format!("store: {err}")),
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        // The server's message and detail (a constraint, a missing table),
        // on one line; statements carry values only as parameters, which
        // PostgreSQL does not echo.
        let text = match err.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => err.to_string(),
        };
        Error::Host(format!("store: {}", text.replace('\n', " ")))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_say_who_is_to_blame() {
        assert_eq!(Error::invalid("x").exit_code(), 2);
        assert_eq!(Error::Verdict("x".into()).exit_code(), 1);
        assert_eq!(Error::NotFound("x".into()).exit_code(), 1);
        assert_eq!(Error::Backend("x".into()).exit_code(), 1);
        assert_eq!(Error::sandbox(Violation::Deadline, "x").exit_code(), 3);
    }

    #[test]
    fn sandbox_errors_name_their_kind() {
        let err = Error::sandbox(Violation::Memory, "grew past 64 MiB");
        assert_eq!(err.to_string(), "sandbox: memory: grew past 64 MiB");
        assert_eq!(err.kind(), "memory");
    }
}
