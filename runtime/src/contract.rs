//! The contract between host and flavor, from the host's side: what can be
//! asked, and what an answer must look like to be believed.
//!
//! A flavor is untrusted, so nothing it returns is passed through unchecked.
//! `get-secret` must return the secret that was asked for, with valid keys,
//! no duplicates and values within the size limit; a listing must hold only
//! valid, distinct names; `info()` must describe a flavor we can register.
//! A flavor that lies produces a `sandbox: garbage` error, never a value.

use std::collections::BTreeSet;

use wasmtime::Store;

use crate::bindings::{Flavor, WitError, WitSecret};
use crate::error::{Error, Violation};
use crate::flavors::FlavorDescription;
use crate::sandbox::CallState;
use crate::secret::{Secret, check_name};
use crate::store::TxnMode;

/// One call into a flavor.
#[derive(Debug, Clone)]
pub enum Request {
    Register(Secret),
    Get(String),
    List,
    Update(Secret),
    Delete(String),
    DeleteAll { force: bool },
    Info,
}

/// A flavor's answer, checked.
#[derive(Debug, Clone)]
pub enum Response {
    Done,
    Secret(Secret),
    Names(Vec<String>),
    Info(FlavorDescription),
}

/// An answer as the flavor gave it, before checking.
pub(crate) enum RawResponse {
    Done,
    Secret(WitSecret),
    Names(Vec<String>),
    Info(crate::bindings::FlavorInfo),
}

impl Request {
    /// The WIT name of the operation, for messages and reports.
    pub fn operation(&self) -> &'static str {
        match self {
            Request::Register(_) => "register-secret",
            Request::Get(_) => "get-secret",
            Request::List => "get-all-secret-keys",
            Request::Update(_) => "update-secret",
            Request::Delete(_) => "delete-secret",
            Request::DeleteAll { .. } => "delete-all-secrets",
            Request::Info => "info",
        }
    }

    /// Whether the call is expected to write storage.
    pub fn txn_mode(&self) -> TxnMode {
        match self {
            Request::Register(_)
            | Request::Update(_)
            | Request::Delete(_)
            | Request::DeleteAll { .. } => TxnMode::Write,
            Request::Get(_) | Request::List | Request::Info => TxnMode::Read,
        }
    }

    /// Secret values this request hands the flavor (to be masked).
    pub fn values(&self) -> Vec<&str> {
        match self {
            Request::Register(s) | Request::Update(s) => {
                s.values().values().map(String::as_str).collect()
            }
            _ => Vec::new(),
        }
    }

    pub(crate) async fn invoke(
        &self,
        flavor: &Flavor,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<Result<RawResponse, WitError>> {
        let manager = flavor.flavorbox_secrets_secrets_manager();
        let wit = |s: &Secret| WitSecret {
            name: s.name().to_string(),
            schema: s.schema().to_string(),
            values: s.pairs(),
        };
        Ok(match self {
            Request::Register(s) => manager
                .call_register_secret(store, &wit(s))
                .await?
                .map(|()| RawResponse::Done),
            Request::Get(name) => manager
                .call_get_secret(store, name)
                .await?
                .map(RawResponse::Secret),
            Request::List => manager
                .call_get_all_secret_keys(store)
                .await?
                .map(RawResponse::Names),
            Request::Update(s) => manager
                .call_update_secret(store, &wit(s))
                .await?
                .map(|()| RawResponse::Done),
            Request::Delete(name) => manager
                .call_delete_secret(store, name)
                .await?
                .map(|()| RawResponse::Done),
            Request::DeleteAll { force } => manager
                .call_delete_all_secrets(store, *force)
                .await?
                .map(|()| RawResponse::Done),
            Request::Info => Ok(RawResponse::Info(
                flavor.flavorbox_secrets_metadata().call_info(store).await?,
            )),
        })
    }

    /// Checks a flavor's answer against what was asked.
    pub(crate) fn check(&self, raw: RawResponse) -> Result<Response, Error> {
        let garbage = |detail: String| {
            Error::sandbox(
                Violation::Garbage,
                format!("{} returned {detail}", self.operation()),
            )
        };
        match (self, raw) {
            (Request::Get(asked), RawResponse::Secret(secret)) => {
                if secret.name != *asked {
                    return Err(garbage(format!(
                        "secret `{}` when asked for `{asked}`",
                        clip(&secret.name)
                    )));
                }
                Secret::new(secret.name, secret.schema, secret.values)
                    .map(Response::Secret)
                    .map_err(|e| garbage(format!("an invalid secret: {e}")))
            }
            (Request::List, RawResponse::Names(names)) => {
                let mut seen = BTreeSet::new();
                for name in &names {
                    check_name("secret name", name)
                        .map_err(|e| garbage(format!("an invalid listing: {e}")))?;
                    if !seen.insert(name) {
                        return Err(garbage(format!("secret `{name}` twice in one listing")));
                    }
                }
                Ok(Response::Names(names))
            }
            (Request::Info, RawResponse::Info(info)) => FlavorDescription::from_wit(info)
                .map(Response::Info)
                .map_err(|e| garbage(format!("an unusable description: {e}"))),
            (
                Request::Register(_)
                | Request::Update(_)
                | Request::Delete(_)
                | Request::DeleteAll { .. },
                RawResponse::Done,
            ) => Ok(Response::Done),
            _ => unreachable!("invoke answers each request with its own response kind"),
        }
    }
}

impl Response {
    /// Secret values in this answer (to be masked).
    pub fn values(&self) -> Vec<&str> {
        match self {
            Response::Secret(s) => s.values().values().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Text from a flavor, made fit for a one-line message: control characters
/// become spaces and it is cut at 300 characters.
pub fn clip(text: &str) -> String {
    const MAX: usize = 300;
    let mut out: String = text
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}
