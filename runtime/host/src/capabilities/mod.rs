//! What a flavor can reach: one module per capability, each holding its
//! policy, its host implementation and its tests.
//!
//! A flavor declares the capabilities it needs in `info()`; the operator
//! grants them when registering the flavor (see [`crate::policy`]). `config`
//! and `log` reach nothing outside the call and are always available;
//! `storage` and `http` reach data and the network and must be granted.

pub mod config;
pub mod http;
pub mod log;
pub mod storage;

use std::sync::{Arc, Mutex};

use crate::error::Violation;
use crate::policy::{Capability, Origin};

/// What a refusal was for want of: a grant the operator could give. Whether
/// it is the operator's omission or the flavor's breach depends on what the
/// flavor declared (see `sandbox::classify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ungranted {
    /// A capability the policy does not grant.
    Capability(Capability),
    /// An origin no granted origin or pattern matches (`http` granted).
    Origin(Origin),
}

impl Ungranted {
    /// The `flavorbox flavor grant` flag that grants it (`--grant storage`,
    /// `--allow-host ORIGIN`; `http` alone names no origin).
    pub fn grant_flag(&self) -> String {
        match self {
            Ungranted::Origin(origin) => format!("--allow-host {origin}"),
            Ungranted::Capability(Capability::Http) => "--allow-host ORIGIN".to_string(),
            Ungranted::Capability(capability) => format!("--grant {capability}"),
        }
    }
}

/// What one capability observed during a call: whether the flavor used it,
/// and the first way the flavor broke its policy, if any.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    pub used: bool,
    pub violation: Option<(Violation, String)>,
    /// Whether the violation's detail quotes text the flavor chose (a key,
    /// a host name, an address): such a detail is withheld when the call
    /// read data whose secret values the host never saw.
    pub quoting: bool,
    /// Whether data came back to the flavor through it (a stored value, a
    /// key's existence, a successful HTTP response): what the flavor says
    /// afterwards may carry secret values the host never saw.
    pub read_data: bool,
    /// Set when the violation is a refusal for want of a grant: what was
    /// not granted.
    pub ungranted: Option<Ungranted>,
}

impl Findings {
    /// Records a breach; the first one is kept, as later ones are usually
    /// its consequences.
    pub fn breach(&mut self, kind: Violation, detail: String) {
        if self.violation.is_none() {
            self.violation = Some((kind, detail));
        }
    }

    /// Records a breach whose detail quotes text the flavor chose.
    pub fn breach_quoting(&mut self, kind: Violation, detail: String) {
        if self.violation.is_none() {
            self.violation = Some((kind, detail));
            self.quoting = true;
        }
    }

    /// Records a `denied` refusal for want of the grant `wanted`.
    pub fn refuse_ungranted(&mut self, wanted: Ungranted, detail: String) {
        if self.violation.is_none() {
            // An origin is the flavor's choice of text.
            self.quoting = matches!(wanted, Ungranted::Origin(_));
            self.violation = Some((Violation::Denied, detail));
            self.ungranted = Some(wanted);
        }
    }
}

/// Findings updated from work that outlives a host call (HTTP requests in
/// flight, WASI socket checks), hence shared.
#[derive(Clone, Default)]
pub struct SharedFindings(Arc<Mutex<Findings>>);

impl SharedFindings {
    fn lock(&self) -> std::sync::MutexGuard<'_, Findings> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn breach(&self, kind: Violation, detail: String) {
        self.lock().breach(kind, detail);
    }

    pub fn breach_quoting(&self, kind: Violation, detail: String) {
        self.lock().breach_quoting(kind, detail);
    }

    pub fn refuse_ungranted(&self, wanted: Ungranted, detail: String) {
        self.lock().refuse_ungranted(wanted, detail);
    }

    pub fn mark_used(&self) {
        self.lock().used = true;
    }

    pub fn mark_read_data(&self) {
        self.lock().read_data = true;
    }

    pub fn snapshot(&self) -> Findings {
        self.lock().clone()
    }
}
