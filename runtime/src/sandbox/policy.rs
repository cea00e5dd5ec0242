//! What the operator allows one flavor: limits on every call and the
//! capabilities granted. Set at `flavor register`, stored with the flavor,
//! shown by `flavor describe`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capabilities::Capability;
use crate::capabilities::storage::Quota;

/// Largest memory cap an operator may grant, in MiB (the engine's ceiling).
pub const MAX_MEMORY_MIB: u64 = 1024;
/// Longest deadline an operator may grant, in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 300;
/// Most HTTP requests per call an operator may grant.
pub const MAX_HTTP_REQUESTS: u32 = 10_000;

/// Limits on every call of a flavor (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Wall time per call.
    pub timeout_ms: u64,
    /// Linear memory per instance.
    pub memory_bytes: u64,
    /// Storage per secrets manager.
    pub storage: Quota,
    /// HTTP requests per call.
    pub http_requests: u32,
    /// HTTP request body per request.
    pub http_request_bytes: u64,
    /// HTTP response body per request.
    pub http_response_bytes: u64,
    /// Log and stdout/stderr bytes per call.
    pub log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 5_000,
            memory_bytes: 64 * 1024 * 1024,
            storage: Quota::default(),
            http_requests: 32,
            http_request_bytes: 1024 * 1024,
            http_response_bytes: 4 * 1024 * 1024,
            log_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The capabilities an operator granted a flavor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grants {
    /// Granted capabilities besides the always-granted ones.
    pub capabilities: BTreeSet<Capability>,
    /// Origins (`scheme://host:port`) HTTP may reach; only with `http`.
    pub http_origins: Vec<String>,
}

impl Grants {
    pub fn allows(&self, capability: Capability) -> bool {
        capability.always_granted() || self.capabilities.contains(&capability)
    }
}

/// Limits and grants of one flavor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub limits: Limits,
    pub grants: Grants,
}
