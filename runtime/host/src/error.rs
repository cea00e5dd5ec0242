//! Errors that say who is to blame.
//!
//! The CLI's exit code and message, and the HTTP status `serve` answers,
//! depend on whether the user's input was bad, the operation failed (the
//! flavor or its backend said no), the flavor broke the sandbox, or the host
//! itself failed. An [`Error`] is that [`ErrorKind`] plus a one-line,
//! human-readable detail; code decides by the kind, never by the text, and
//! a wrapper that adds context keeps the kind ([`Error::map_detail`]). No
//! detail ever carries a secret value (flavor text is masked before it gets
//! here, see `capabilities::mask`).
//!
//! This is the bottom layer: it knows no database driver and no engine.
//! Each backend turns its own errors into these where it talks to its
//! driver.

use std::fmt;

/// How a flavor broke the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
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

/// Who is to blame, and so how a failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is unacceptable (bad input from the user, or a request
    /// the flavor refused as invalid); nothing was written.
    Invalid,
    /// The named thing does not exist.
    NotFound,
    /// The named thing exists already.
    AlreadyExists,
    /// The flavor, its backend or the host's policy refused.
    Denied,
    /// The flavor's backend failed.
    Backend,
    /// The flavor broke the sandbox; its writes were rolled back.
    Sandbox(Violation),
    /// An evaluation judged a flavor unfit.
    Verdict,
    /// Another call changed what this one read, or held what it needed,
    /// and it could not be run again in time; nothing was written.
    Conflict,
    /// The host failed (its store, its files, the engine).
    Host,
}

impl ErrorKind {
    /// A short machine-readable name, used in JSON output, the audit log
    /// and by `evaluate` (a sandbox breach is named by its violation).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not-found",
            ErrorKind::AlreadyExists => "already-exists",
            ErrorKind::Denied => "denied",
            ErrorKind::Backend => "backend",
            ErrorKind::Sandbox(violation) => violation.as_str(),
            ErrorKind::Verdict => "verdict",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Host => "host",
        }
    }

    /// Every exit code [`ErrorKind::exit_code`] gives, with what it means
    /// (the CLI's manual lists them from here).
    pub const EXIT_CODES: [(u8, &'static str); 3] = [
        (
            1,
            "the operation failed: not found, already exists, denied, the backend \
             failed, a conflict, an evaluation's verdict FAIL, or the host failed",
        ),
        (
            2,
            "bad usage or input: an unknown argument, an invalid value or name, \
             input refused; nothing was written",
        ),
        (
            3,
            "the flavor broke the sandbox (deadline, memory, trap, quota, denied \
             capability, garbage answer, host limit); its writes were rolled back",
        ),
    ];

    /// The CLI exit code: 1 the operation failed, 2 bad usage or input,
    /// 3 the flavor broke the sandbox (see [`ErrorKind::EXIT_CODES`]).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Invalid => 2,
            ErrorKind::Sandbox(_) => 3,
            ErrorKind::NotFound
            | ErrorKind::AlreadyExists
            | ErrorKind::Denied
            | ErrorKind::Backend
            | ErrorKind::Verdict
            | ErrorKind::Conflict
            | ErrorKind::Host => 1,
        }
    }

    /// How a message of this kind starts (`not found: ...`).
    fn prefix(self) -> String {
        match self {
            ErrorKind::Invalid => "invalid".to_string(),
            ErrorKind::NotFound => "not found".to_string(),
            ErrorKind::AlreadyExists => "already exists".to_string(),
            ErrorKind::Denied => "denied".to_string(),
            ErrorKind::Backend => "backend".to_string(),
            ErrorKind::Sandbox(violation) => format!("sandbox: {violation}"),
            ErrorKind::Verdict => "verdict: FAIL".to_string(),
            ErrorKind::Conflict => "conflict".to_string(),
            ErrorKind::Host => "host".to_string(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure flavorbox reports: a kind and a one-line detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: String,
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.prefix(), self.detail)
    }
}

impl Error {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error {
            kind,
            detail: detail.into(),
        }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, detail)
    }

    pub fn already_exists(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::AlreadyExists, detail)
    }

    pub fn denied(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Denied, detail)
    }

    pub fn backend(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Backend, detail)
    }

    pub fn sandbox(violation: Violation, detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Sandbox(violation), detail)
    }

    pub fn verdict(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Verdict, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Conflict, detail)
    }

    /// A host failure; takes anything printable (an I/O error, a driver's).
    pub fn host(detail: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Host, detail.to_string())
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether this is an error of `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }

    /// The sandbox violation, if the flavor broke the sandbox.
    pub fn violation(&self) -> Option<Violation> {
        match self.kind {
            ErrorKind::Sandbox(violation) => Some(violation),
            _ => None,
        }
    }

    /// The reason without its kind prefix.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The reason for quoting inside another message: the detail, after
    /// `sandbox: <violation>:` for a breach (whose kind a wrapper of
    /// another kind would otherwise hide).
    pub fn quoted(&self) -> String {
        match self.kind {
            ErrorKind::Sandbox(_) => self.to_string(),
            _ => self.detail.clone(),
        }
    }

    /// The same kind with its detail rewritten (context added, text
    /// masked): the kind, and so the exit code and status, never changes
    /// on the way up.
    pub fn map_detail(self, f: impl FnOnce(String) -> String) -> Self {
        Error {
            kind: self.kind,
            detail: f(self.detail),
        }
    }

    /// The CLI exit code (see [`ErrorKind::exit_code`]).
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_say_who_is_to_blame() {
        assert_eq!(Error::invalid("x").exit_code(), 2);
        assert_eq!(Error::verdict("x").exit_code(), 1);
        assert_eq!(Error::not_found("x").exit_code(), 1);
        assert_eq!(Error::backend("x").exit_code(), 1);
        assert_eq!(Error::sandbox(Violation::Deadline, "x").exit_code(), 3);
    }

    /// Every kind's code is listed with its meaning, and every listed code
    /// is some kind's.
    #[test]
    fn every_exit_code_is_listed() {
        let mut kinds = vec![
            ErrorKind::Invalid,
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::Denied,
            ErrorKind::Backend,
            ErrorKind::Verdict,
            ErrorKind::Conflict,
            ErrorKind::Host,
        ];
        kinds.extend(Violation::ALL.map(ErrorKind::Sandbox));
        // A new kind does not compile here until it is listed above.
        for kind in &kinds {
            match kind {
                ErrorKind::Invalid
                | ErrorKind::NotFound
                | ErrorKind::AlreadyExists
                | ErrorKind::Denied
                | ErrorKind::Backend
                | ErrorKind::Sandbox(_)
                | ErrorKind::Verdict
                | ErrorKind::Conflict
                | ErrorKind::Host => {}
            }
        }
        let listed: Vec<u8> = ErrorKind::EXIT_CODES.iter().map(|(c, _)| *c).collect();
        for kind in &kinds {
            assert!(listed.contains(&kind.exit_code()), "{kind:?}");
        }
        for code in listed {
            assert!(kinds.iter().any(|k| k.exit_code() == code), "{code}");
        }
    }

    #[test]
    fn sandbox_errors_name_their_kind() {
        let err = Error::sandbox(Violation::Memory, "grew past 64 MiB");
        assert_eq!(err.to_string(), "sandbox: memory: grew past 64 MiB");
        assert_eq!(err.kind().as_str(), "memory");
        assert_eq!(err.violation(), Some(Violation::Memory));
    }

    #[test]
    fn context_keeps_the_kind() {
        let err = Error::not_found("secret `a` does not exist")
            .map_detail(|d| format!("{d} in secrets manager `m`"));
        assert!(err.is(ErrorKind::NotFound));
        assert_eq!(
            err.to_string(),
            "not found: secret `a` does not exist in secrets manager `m`"
        );
    }
}
