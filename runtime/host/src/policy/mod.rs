//! What the operator allows one flavor: the capabilities granted, the HTTP
//! origins it may reach, and the limits on every call. Set at
//! `flavor register`, stored with the flavor, shown by `flavor describe`,
//! and enforced by the sandbox and the capabilities above this layer.
//!
//! Everything here is plain data with its own checks, so a policy read back
//! from the store means exactly what the operator granted.

mod origin;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use origin::{Origin, OriginGrant, check_origins};

/// Largest memory cap an operator may grant, in MiB (the engine's ceiling).
pub const MAX_MEMORY_MIB: u64 = 1024;
/// Longest deadline an operator may grant, in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 300;
/// Most HTTP requests per call an operator may grant.
pub const MAX_HTTP_REQUESTS: u32 = 10_000;
/// Longest compile an operator may grant, in seconds.
pub const MAX_COMPILE_TIMEOUT_SECS: u64 = 3_600;
/// Most memory an operator may grant the compiler, in MiB.
pub const MAX_COMPILE_MEMORY_MIB: u64 = 64 * 1024;
/// The compiler's memory bound when none is set, for a component of no
/// bytes: what the compiler needs to start and compile small functions.
pub const COMPILE_MEMORY_BASE_BYTES: u64 = 256 * 1024 * 1024;
/// What each byte of the component adds to the default compile memory
/// bound. Python and JavaScript flavors (13-19 MB) need under 600 MiB; the
/// default gives them 1.1-1.4 GiB. A small component made to make Cranelift
/// work hard gets little more than the base.
pub const COMPILE_MEMORY_PER_COMPONENT_BYTE: u64 = 64;
/// The default compile memory bound never exceeds this.
pub const COMPILE_MEMORY_DEFAULT_CAP_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Fixed caps on what one call may make the host hold. Unlike [`Limits`]
/// they are not set per flavor: together with the linear-memory cap they
/// are the bound on host memory per call that the README states.
pub mod caps {
    /// Bytes the host copies out of a flavor in one host call or one
    /// answer (wasmtime's hostcall fuel: list and string bytes plus the
    /// host-side size of each element).
    pub const TRANSFER_BYTES: usize = 8 * 1024 * 1024;
    /// Live host resources (WASI streams and pollables, `wasi:http`
    /// requests, fields and bodies, sockets) per call.
    pub const HOST_RESOURCES: usize = 256;
    /// Live component-model handles per call (resources the flavor defines
    /// itself included).
    pub const COMPONENT_HANDLES: usize = 4_096;
    /// Storage writes one call may stage before its commit (key and value
    /// bytes, plus 64 bytes per entry).
    pub const STAGED_BYTES: u64 = 16 * 1024 * 1024;
    /// Raw sockets one call may create (each is refused at its first use).
    pub const SOCKETS: u32 = 4;
    /// Bytes of one `wasi:http` fields resource (headers, trailers), as
    /// wasmtime counts them.
    pub const HTTP_FIELDS_BYTES: usize = 16 * 1024;
    /// Bytes one `wasi:http` body write may carry; an unsent body buffers at
    /// most two such chunks.
    pub const HTTP_BODY_CHUNK: usize = 16 * 1024;
    /// Bytes of a request's method, authority or path.
    pub const HTTP_REQUEST_TEXT: usize = 8 * 1024;
    /// Random bytes per `wasi:random` call.
    pub const RANDOM_BYTES: u64 = 1024 * 1024;
    /// Names in one `get-all-secret-keys` answer.
    pub const LISTED_NAMES: usize = 100_000;
    /// Config fields a flavor may declare in `info()`.
    pub const CONFIG_FIELDS: usize = 64;
    /// Bytes of the description in `info()`.
    pub const DESCRIPTION_BYTES: usize = 2_048;
    /// Bytes of one config field's description in `info()`.
    pub const FIELD_DESCRIPTION_BYTES: usize = 512;
    /// Bytes of the version in `info()`.
    pub const VERSION_BYTES: usize = 64;
    /// Calls that may run at once in one process (pooled instances); a
    /// call waits for a slot no longer than its own deadline.
    pub const CONCURRENT_CALLS: usize = 16;

    /// What one call may make the host hold besides the flavor's linear
    /// memory: the bound the README states is the linear-memory cap plus
    /// this. It covers a copy of one transfer (at most about 2.3 times
    /// [`TRANSFER_BYTES`] once the host holds it as strings), the staged
    /// writes, the live host resources (each a few KiB at most, bodies two
    /// chunks), the log, the answer, and the instance's own structures.
    pub const HOST_MEMORY_MARGIN: u64 = 64 * 1024 * 1024;
}

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

    /// Whether every flavor has it without a grant: `config` and `log` reach
    /// nothing outside the call.
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

/// How much one secrets manager may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Key bytes plus value bytes.
    pub bytes: u64,
    pub keys: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            bytes: 16 * 1024 * 1024,
            keys: 10_000,
        }
    }
}

/// Limits on every call of a flavor; the defaults are the README's sandbox
/// table.
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
    /// Log records (log calls and stdout/stderr lines) per call; an empty
    /// line counts as much as a full one.
    pub log_records: u64,
    /// Wall time to compile the component to native code.
    pub compile_timeout_ms: u64,
    /// Memory (heap and data) of the process that compiles the component;
    /// `None`: scaled with the component's size (see [`CompileLimits`]).
    #[serde(deserialize_with = "compile_memory_from_store")]
    pub compile_memory_bytes: Option<u64>,
}

/// Earlier flavorbox versions stored their fixed default (4 GiB) with every
/// flavor; it reads back as the scaled default that replaced it.
fn compile_memory_from_store<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    const EARLIER_DEFAULT: u64 = 4 * 1024 * 1024 * 1024;
    Ok(Option::<u64>::deserialize(deserializer)?.filter(|bytes| *bytes != EARLIER_DEFAULT))
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
            log_records: 1_024,
            compile_timeout_ms: 120_000,
            compile_memory_bytes: None,
        }
    }
}

impl Limits {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// How compiling this flavor's component is bounded.
    pub fn compile(&self) -> CompileLimits {
        CompileLimits {
            timeout: Duration::from_millis(self.compile_timeout_ms),
            memory_bytes: self.compile_memory_bytes,
        }
    }
}

/// How compiling one component is bounded: wall time, and the memory of the
/// process that compiles it (`None`: scaled with the component's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    pub timeout: Duration,
    pub memory_bytes: Option<u64>,
}

impl CompileLimits {
    /// The memory bound for a component of `component_bytes`: the one set,
    /// else [`COMPILE_MEMORY_BASE_BYTES`] plus
    /// [`COMPILE_MEMORY_PER_COMPONENT_BYTE`] per byte, at most
    /// [`COMPILE_MEMORY_DEFAULT_CAP_BYTES`].
    pub fn memory_bytes_for(&self, component_bytes: usize) -> u64 {
        self.memory_bytes.unwrap_or_else(|| {
            (component_bytes as u64)
                .saturating_mul(COMPILE_MEMORY_PER_COMPONENT_BYTE)
                .saturating_add(COMPILE_MEMORY_BASE_BYTES)
                .min(COMPILE_MEMORY_DEFAULT_CAP_BYTES)
        })
    }
}

impl Default for CompileLimits {
    fn default() -> Self {
        Limits::default().compile()
    }
}

/// Limits set on one secrets manager, overriding its flavor's for every call
/// through that manager (`secrets-manager register --http-requests N`): the
/// same flavor may serve a manager of ten secrets and one of ten thousand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagerLimits {
    /// HTTP requests per call, instead of the flavor's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_requests: Option<u32>,
}

impl ManagerLimits {
    /// Checks each override against the ceilings an operator may grant.
    pub fn check(&self) -> Result<(), String> {
        if let Some(requests) = self.http_requests
            && (requests == 0 || requests > MAX_HTTP_REQUESTS)
        {
            return Err(format!(
                "--http-requests must be 1-{MAX_HTTP_REQUESTS}, not {requests}"
            ));
        }
        Ok(())
    }

    /// `limits` with these overrides applied.
    pub fn apply(&self, mut limits: Limits) -> Limits {
        if let Some(requests) = self.http_requests {
            limits.http_requests = requests;
        }
        limits
    }

    pub fn is_empty(&self) -> bool {
        *self == ManagerLimits::default()
    }
}

/// The capabilities an operator granted a flavor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grants {
    /// Granted capabilities besides the always-granted ones.
    pub capabilities: BTreeSet<Capability>,
    /// Origins HTTP may reach (`scheme://host[:port]`, or
    /// `scheme://*.domain[:port]` for its subdomains), as the operator gave
    /// them; only with `http`.
    pub http_origins: Vec<String>,
}

impl Grants {
    pub fn allows(&self, capability: Capability) -> bool {
        capability.always_granted() || self.capabilities.contains(&capability)
    }

    /// The granted origins and patterns, parsed. They were checked when
    /// granted; one that no longer parses grants nothing.
    pub fn origins(&self) -> Vec<OriginGrant> {
        self.http_origins
            .iter()
            .filter_map(|o| OriginGrant::parse(o).ok())
            .collect()
    }
}

/// Limits and grants of one flavor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub limits: Limits,
    pub grants: Grants,
}

impl Policy {
    /// Declared capabilities this policy does not grant.
    pub fn ungranted(&self, declared: &BTreeSet<Capability>) -> Vec<Capability> {
        declared
            .iter()
            .copied()
            .filter(|c| !self.grants.allows(*c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_compile_memory_grows_with_the_component_up_to_its_cap() {
        let limits = Limits::default().compile();
        let mib = |bytes: u64| bytes / (1024 * 1024);
        assert_eq!(mib(limits.memory_bytes_for(0)), 256);
        // A 450 KB compile bomb: little more than the base.
        assert_eq!(mib(limits.memory_bytes_for(450_000)), 283);
        // A Python flavor (19 MB): room for the under 600 MiB it needs.
        assert_eq!(mib(limits.memory_bytes_for(19_047_016)), 1418);
        assert_eq!(mib(limits.memory_bytes_for(usize::MAX)), 4096);
        let set = CompileLimits {
            memory_bytes: Some(128 << 20),
            ..limits
        };
        assert_eq!(mib(set.memory_bytes_for(19_047_016)), 128);
    }

    #[test]
    fn a_stored_earlier_default_compile_memory_reads_as_the_scaled_default() {
        let read = |json: &str| serde_json::from_str::<Limits>(json).unwrap();
        assert_eq!(
            read(r#"{"compile_memory_bytes":4294967296}"#).compile_memory_bytes,
            None
        );
        assert_eq!(read(r#"{}"#).compile_memory_bytes, None);
        assert_eq!(
            read(r#"{"compile_memory_bytes":134217728}"#).compile_memory_bytes,
            Some(134_217_728)
        );
        let round = serde_json::to_string(&Limits::default()).unwrap();
        assert_eq!(read(&round), Limits::default());
    }

    #[test]
    fn config_and_log_need_no_grant() {
        let grants = Grants::default();
        assert!(grants.allows(Capability::Config));
        assert!(grants.allows(Capability::Log));
        assert!(!grants.allows(Capability::Storage));
        assert!(!grants.allows(Capability::Http));
        let declared = BTreeSet::from([Capability::Storage, Capability::Log]);
        assert_eq!(
            Policy::default().ungranted(&declared),
            [Capability::Storage]
        );
    }

    #[test]
    fn capabilities_parse_by_name_only() {
        assert_eq!("http".parse::<Capability>(), Ok(Capability::Http));
        assert!("HTTP".parse::<Capability>().is_err());
        assert!("fs".parse::<Capability>().unwrap_err().contains("unknown"));
    }

    #[test]
    fn manager_limits_override_only_what_they_set() {
        let flavor = Limits::default();
        assert_eq!(ManagerLimits::default().apply(flavor), flavor);
        let raised = ManagerLimits {
            http_requests: Some(2000),
        };
        assert_eq!(raised.apply(flavor).http_requests, 2000);
        assert_eq!(raised.apply(flavor).timeout_ms, flavor.timeout_ms);
        assert!(raised.check().is_ok());
        for bad in [0, MAX_HTTP_REQUESTS + 1] {
            let err = ManagerLimits {
                http_requests: Some(bad),
            }
            .check()
            .unwrap_err();
            assert!(err.contains("--http-requests must be"), "{err}");
        }
        assert_eq!(
            serde_json::to_string(&ManagerLimits::default()).unwrap(),
            "{}"
        );
        let read: ManagerLimits = serde_json::from_str("{}").unwrap();
        assert!(read.is_empty());
    }

    #[test]
    fn a_stored_policy_missing_fields_reads_as_defaults() {
        let policy: Policy = serde_json::from_str(r#"{"limits": {"timeout_ms": 100}}"#).unwrap();
        assert_eq!(policy.limits.timeout_ms, 100);
        assert_eq!(policy.limits.memory_bytes, Limits::default().memory_bytes);
        assert!(policy.grants.capabilities.is_empty());
    }
}
