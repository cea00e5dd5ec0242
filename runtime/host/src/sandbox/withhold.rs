//! How a call's failure is told, and what of a flavor's words is withheld.
//!
//! Guards against a flavor's text carrying secret values to the user. Text
//! the flavor chose (its error messages, and breach details that quote a
//! key, a host name or an address it used) is masked with every value the
//! host knows of, and clipped. Text from a call that handles values the host
//! does not know, after its flavor read stored or remote data, is
//! *secret-bearing* (see [`secret_bearing`]): masking cannot clean it, so
//! its error is told in the host's own words (what the kind means for this
//! operation and secret), the flavor's words go to the withheld log
//! (`capabilities::log::forward`), and breach details that quote the
//! flavor give only the kind and the operation.

use super::classify::Failure;
use super::exports::Export;
use super::state::CallState;
use crate::capabilities::log::{Level, LogRecord, Source as LogSource};
use crate::contract::FlavorError as WitError;
use crate::contract::{Operation, clip};
use crate::error::{Error, Violation};
use crate::mask::Masker;

/// Whether the call's text may carry secret values the host cannot mask:
/// it is one of the operations that handle values (`get-secret`,
/// `register-secret`, `update-secret`), its flavor read data the host never
/// saw (a stored value or key, a successful HTTP response), and the host
/// does not know the values the call handled: a `get-secret` that failed
/// (its values never reached the host), a register or update (what was
/// stored before is not what the host gave). Backends' refusals (HTTP
/// errors) are not such data, so their messages reach the user.
pub(super) fn secret_bearing(operation: Operation, succeeded: bool, state: &CallState) -> bool {
    let unknown_values = match operation {
        Operation::GetSecret => !succeeded,
        Operation::RegisterSecret | Operation::UpdateSecret => true,
        Operation::GetAllSecretKeys
        | Operation::DeleteSecret
        | Operation::DeleteAllSecrets
        | Operation::Info
        | Operation::ListSecrets
        | Operation::GetMetadata
        | Operation::ListVersions
        | Operation::RestoreSecret
        | Operation::DestroyVersions
        | Operation::SetLabels
        | Operation::ValidateConfig => false,
    };
    unknown_values && state.read_data()
}

/// What decides how a call's text is told.
pub(super) struct Telling<'a> {
    pub operation: Operation,
    pub masker: &'a Masker,
    pub secret_bearing: bool,
    /// The first breach a capability or gate recorded: its kind, its
    /// detail, and whether the detail quotes text the flavor chose.
    pub recorded: Option<&'a (Violation, String, bool)>,
}

impl Telling<'_> {
    /// The recorded breach, as the call's report tells it.
    pub fn recorded_breach(&self) -> Option<(Violation, String)> {
        self.recorded.map(|(kind, detail, quotes)| {
            let detail = if self.secret_bearing && *quotes {
                withheld_breach(*kind, self.operation)
            } else {
                self.masker.mask(&clip(detail))
            };
            (*kind, detail)
        })
    }

    /// Whether an error's detail quotes text the flavor chose: answers
    /// that break the contract, and breaches recorded as quoting.
    fn quotes_flavor(&self, err: &Error) -> bool {
        match err.violation() {
            Some(Violation::Garbage) => true,
            Some(kind) => self
                .recorded
                .is_some_and(|(k, d, quotes)| *quotes && *k == kind && d == err.detail()),
            None => false,
        }
    }

    /// The error a failed call reports, and the flavor's own words when
    /// they go to the withheld log instead. A failure of the host's store
    /// (`storage_failure`) is the host's, told as it is.
    pub fn failure<E: Export>(
        &self,
        failure: Failure,
        export: &E,
        storage_failure: bool,
    ) -> (Error, Option<LogRecord>) {
        let masker = self.masker;
        match failure {
            Failure::Host(err) if storage_failure => (err, None),
            Failure::Host(err) if self.secret_bearing && self.quotes_flavor(&err) => {
                (withhold_host(err, self.operation), None)
            }
            Failure::Host(err) => (mask_error(err, masker), None),
            Failure::Breach(err, wit) if self.secret_bearing => {
                // The breach, told as a secret-bearing call's; what the
                // flavor reported after it goes to the withheld log.
                let (_, said) = withhold_flavor(wit, export, masker);
                let err = if self.quotes_flavor(&err) {
                    withhold_host(err, self.operation)
                } else {
                    mask_error(err, masker)
                };
                (err, Some(said))
            }
            Failure::Breach(err, wit) => (
                with_report(mask_error(err, masker), &from_wit(wit, masker)),
                None,
            ),
            Failure::Flavor(wit) if self.secret_bearing => {
                let (error, said) = withhold_flavor(wit, export, masker);
                (error, Some(said))
            }
            Failure::Flavor(wit) => (from_wit(wit, masker), None),
            // The host's words; an origin it names equals a config value,
            // which may be one the host masks.
            Failure::Ungranted(err) => (err.map_detail(|text| masker.mask(&text)), None),
        }
    }
}

/// A breach, followed by what the flavor reported after it: the breach
/// decides the error's kind, the report tells the user what was done.
fn with_report(breach: Error, report: &Error) -> Error {
    breach.map_detail(|detail| format!("{detail}; the flavor then reported {report}"))
}

/// Masks and clips an error's text (it may quote the flavor).
fn mask_error(err: Error, masker: &Masker) -> Error {
    if err.violation().is_none() {
        return err;
    }
    err.map_detail(|text| masker.mask(&clip(&text)))
}

fn from_wit(err: WitError, masker: &Masker) -> Error {
    let fix = |text: String| masker.mask(&clip(&text));
    match err {
        WitError::NotFound(m) => Error::not_found(fix(m)),
        WitError::AlreadyExists(m) => Error::already_exists(fix(m)),
        WitError::Invalid(m) => Error::invalid(fix(m)),
        WitError::Denied(m) => Error::denied(fix(m)),
        WitError::Backend(m) => Error::backend(fix(m)),
        WitError::Conflict(m) => Error::conflict(fix(m)),
    }
}

/// Where a withheld message can be seen.
const WITHHELD_HINT: &str = "FLAVORBOX_LOG=secret_bearing=info shows it";

/// The detail of a breach in a secret-bearing call: the kind and operation
/// only, as the full detail may quote what the flavor chose (a key, a host
/// name, an address) after reading data the host cannot mask.
fn withheld_breach(kind: Violation, op: Operation) -> String {
    format!(
        "{op} broke the sandbox ({kind}) after reading stored or remote data; the detail is \
         withheld as it may carry secret values"
    )
}

/// A sandbox breach of a secret-bearing call whose detail quotes the
/// flavor, told without the flavor's words.
fn withhold_host(err: Error, op: Operation) -> Error {
    match err.violation() {
        Some(kind) => Error::sandbox(kind, withheld_breach(kind, op)),
        None => err,
    }
}

/// The error of a secret-bearing call, in the host's words: what the kind
/// means for this operation and secret; and the flavor's own (masked)
/// words, as a record for the withheld log.
fn withhold_flavor<E: Export>(err: WitError, export: &E, masker: &Masker) -> (Error, LogRecord) {
    let op = E::OPERATION;
    let (said, kind) = match &err {
        WitError::NotFound(m) => (m, "not-found"),
        WitError::AlreadyExists(m) => (m, "already-exists"),
        WitError::Invalid(m) => (m, "invalid"),
        WitError::Denied(m) => (m, "denied"),
        WitError::Backend(m) => (m, "backend"),
        WitError::Conflict(m) => (m, "conflict"),
    };
    let said = LogRecord {
        level: Level::Error,
        source: LogSource::Error,
        message: format!("{op} failed ({kind}): {}", masker.mask(&clip(said))),
    };
    let withheld = |what: &str| {
        format!(
            "{op} {what} after the flavor read stored or remote data; its message is \
             withheld as it may carry secret values ({WITHHELD_HINT})"
        )
    };
    let error = match (err, export.subject()) {
        (WitError::NotFound(_), Some(name)) => {
            Error::not_found(format!("secret `{name}` does not exist"))
        }
        (WitError::AlreadyExists(_), Some(name)) => {
            Error::already_exists(format!("secret `{name}` already exists"))
        }
        (WitError::NotFound(_), None) => Error::not_found(withheld("found nothing")),
        (WitError::AlreadyExists(_), None) => Error::already_exists(withheld("found a twin")),
        (WitError::Invalid(_), _) => Error::invalid(withheld("was refused as invalid")),
        (WitError::Denied(_), _) => Error::denied(withheld("was denied")),
        (WitError::Backend(_), _) => Error::backend(withheld("failed in the backend")),
        (WitError::Conflict(_), _) => Error::conflict(withheld("found the secret moved on")),
    };
    (error, said)
}
