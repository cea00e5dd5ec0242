//! What a flavor can reach: one module per capability, each holding its
//! policy, its host implementation and its tests.
//!
//! A flavor declares the capabilities it needs in `info()`; the operator
//! grants them when registering the flavor. `config` and `log` reach nothing
//! outside the call and are always available; `storage` and `http` reach
//! data and the network and must be granted.

pub mod config;
pub mod http;
pub mod log;
pub mod storage;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::Violation;

/// A capability a flavor can declare and an operator can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Its secrets manager's key-value namespace in the home's store.
    Storage,
    /// Outbound HTTP to granted origins.
    Http,
    /// Its secrets manager's configuration (always granted).
    Config,
    /// Diagnostics (always granted).
    Log,
}

impl Capability {
    pub const ALL: [Capability; 4] = [
        Capability::Storage,
        Capability::Http,
        Capability::Config,
        Capability::Log,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Storage => "storage",
            Capability::Http => "http",
            Capability::Config => "config",
            Capability::Log => "log",
        }
    }

    /// Whether every flavor has it without a grant.
    pub fn always_granted(self) -> bool {
        matches!(self, Capability::Config | Capability::Log)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown capability `{}` (known: storage, http, config, log)",
                    s.escape_debug()
                )
            })
    }
}

/// What one capability observed during a call: whether the flavor used it,
/// and the first way the flavor broke its policy, if any.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    pub used: bool,
    pub violation: Option<(Violation, String)>,
}

impl Findings {
    /// Records a breach; the first one is kept, as later ones are usually
    /// its consequences.
    pub fn breach(&mut self, kind: Violation, detail: String) {
        self.violation.get_or_insert((kind, detail));
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

    pub fn mark_used(&self) {
        self.lock().used = true;
    }

    pub fn snapshot(&self) -> Findings {
        self.lock().clone()
    }
}
