//! What an operator grants and limits when registering a flavor (or
//! granting it more later).
//!
//! Guards against an operator's typo turning into a sandbox without
//! bounds: every limit is checked against its range (memory, deadline,
//! storage quota, HTTP requests, compile time and memory) and every origin
//! parsed (`policy::OriginGrant`) before a policy
//! is made of it, and capabilities that are always granted are not
//! recorded as grants. Guards against a grant that can never be used (a
//! capability the flavor does not declare, origins for a flavor that does
//! not declare `http`): it is a typo, and refused naming what the flavor
//! declares.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::policy::{
    Capability, MAX_COMPILE_MEMORY_MIB, MAX_COMPILE_TIMEOUT_SECS, MAX_HTTP_REQUESTS,
    MAX_MEMORY_MIB, MAX_TIMEOUT_SECS, Policy, check_origins,
};

/// What the operator grants and limits when registering a flavor.
#[derive(Debug, Clone, Default)]
pub struct RegisterOptions {
    pub grants: BTreeSet<Capability>,
    /// Origins for HTTP (`scheme://host[:port]`); implies the `http` grant.
    pub allow_hosts: Vec<String>,
    pub memory_mib: Option<u64>,
    pub timeout_secs: Option<f64>,
    pub storage_quota_mib: Option<u64>,
    pub storage_quota_keys: Option<u64>,
    pub http_requests: Option<u32>,
    /// Wall time to compile the component, in seconds.
    pub compile_timeout_secs: Option<f64>,
    /// Memory of the compiler process, in MiB.
    pub compile_memory_mib: Option<u64>,
}

impl RegisterOptions {
    /// The policy these options describe, checked.
    pub fn policy(&self) -> Result<Policy> {
        self.apply(Policy::default())
    }

    /// `base` with the limits these options set replaced and the
    /// capabilities and origins they grant added, checked.
    pub fn apply(&self, base: Policy) -> Result<Policy> {
        check_origins(&self.allow_hosts)?;
        let mut limits = base.limits;
        if let Some(mib) = self.memory_mib {
            if mib == 0 || mib > MAX_MEMORY_MIB {
                return Err(Error::invalid(format!(
                    "--memory must be 1-{MAX_MEMORY_MIB} MiB, not {mib}"
                )));
            }
            limits.memory_bytes = mib * 1024 * 1024;
        }
        if let Some(secs) = self.timeout_secs {
            if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS as f64) {
                return Err(Error::invalid(format!(
                    "--timeout must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"
                )));
            }
            limits.timeout_ms = (secs * 1000.0).ceil() as u64;
        }
        if let Some(mib) = self.storage_quota_mib {
            if mib == 0 {
                return Err(Error::invalid("--storage-quota must be at least 1 MiB"));
            }
            limits.storage.bytes = mib.saturating_mul(1024 * 1024);
        }
        if let Some(keys) = self.storage_quota_keys {
            if keys == 0 {
                return Err(Error::invalid("--storage-keys must be at least 1"));
            }
            limits.storage.keys = keys;
        }
        if let Some(requests) = self.http_requests {
            if requests == 0 || requests > MAX_HTTP_REQUESTS {
                return Err(Error::invalid(format!(
                    "--http-requests must be 1-{MAX_HTTP_REQUESTS}, not {requests}"
                )));
            }
            limits.http_requests = requests;
        }
        if let Some(secs) = self.compile_timeout_secs {
            if !(secs > 0.0 && secs <= MAX_COMPILE_TIMEOUT_SECS as f64) {
                return Err(Error::invalid(format!(
                    "--compile-timeout must be more than 0 and at most \
                     {MAX_COMPILE_TIMEOUT_SECS} seconds"
                )));
            }
            limits.compile_timeout_ms = (secs * 1000.0).ceil() as u64;
        }
        if let Some(mib) = self.compile_memory_mib {
            if !(64..=MAX_COMPILE_MEMORY_MIB).contains(&mib) {
                return Err(Error::invalid(format!(
                    "--compile-memory must be 64-{MAX_COMPILE_MEMORY_MIB} MiB, not {mib}"
                )));
            }
            limits.compile_memory_bytes = Some(mib * 1024 * 1024);
        }
        let mut grants = base.grants;
        grants
            .capabilities
            .extend(self.grants.iter().copied().filter(|c| !c.always_granted()));
        if !self.allow_hosts.is_empty() {
            grants.capabilities.insert(Capability::Http);
            for origin in &self.allow_hosts {
                if !grants.http_origins.contains(origin) {
                    grants.http_origins.push(origin.clone());
                }
            }
        }
        Ok(Policy { limits, grants })
    }

    /// Refuses a grant the flavor `flavor`, declaring `declared`, can never
    /// use: a capability it does not declare, or `--allow-host` when it
    /// does not declare `http`.
    pub fn check_declared(&self, flavor: &str, declared: &BTreeSet<Capability>) -> Result<()> {
        let wanted = self
            .grants
            .iter()
            .copied()
            .filter(|c| !c.always_granted())
            .map(|c| (c, format!("--grant {c}")))
            .chain(
                (!self.allow_hosts.is_empty())
                    .then(|| (Capability::Http, "--allow-host".to_string())),
            );
        for (capability, flag) in wanted {
            if !declared.contains(&capability) {
                let declares: Vec<&str> = declared.iter().map(|c| c.as_str()).collect();
                return Err(Error::invalid(format!(
                    "{flag}: flavor `{flavor}` does not declare capability `{capability}`, so \
                     it could never use the grant (it declares: {})",
                    match declares.is_empty() {
                        true => "nothing".to_string(),
                        false => declares.join(", "),
                    }
                )));
            }
        }
        Ok(())
    }

    /// Whether these options change anything.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
            && self.allow_hosts.is_empty()
            && self.memory_mib.is_none()
            && self.timeout_secs.is_none()
            && self.storage_quota_mib.is_none()
            && self.storage_quota_keys.is_none()
            && self.http_requests.is_none()
            && self.compile_timeout_secs.is_none()
            && self.compile_memory_mib.is_none()
    }
}
